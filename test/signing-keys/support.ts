import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type { JWK } from 'jose';
import { createLogger, type Logger } from '../../lib/log.js';
import { VaultClient } from '../../lib/vault.js';
import { vaultSigningKeyStores } from '../../operator/src/adapters/vault/index.js';
import type { SigningKeyRotation, SigningKeyRotationSpec } from '../../operator/src/api/index.js';
import {
  type SigningKeyRotationControllerOptions,
  signingKeyRotationController,
} from '../../operator/src/controllers/signing-key-rotation/index.js';
import {
  type GeneratedKey,
  generateSigningKey,
  PRIVATE_JWK_MEMBERS,
} from '../../operator/src/controllers/signing-key-rotation/keys.js';
import { Manager } from '../../operator/src/runtime/index.js';
import type { VaultInstance, VaultResponse } from '../harness/components/vault.js';
import type { EnvDescriptor } from '../harness/env.js';
import {
  enableVaultKubernetesAuth,
  serviceAccountToken,
  vaultKubernetesRole,
} from '../harness/vault-kube-auth.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface KubeAccess {
  readonly server: string;
  readonly kubeconfig: string;
  readonly caCert: string;
  readonly kubectlPath: string;
}

/** The harness's VaultInstance calls, for a Vault known only by address and root token (the shared env). */
export function vaultAdmin(addr: string, rootToken: string): VaultInstance {
  const request = async <T>(method: string, apiPath: string, body?: unknown): Promise<VaultResponse<T>> => {
    const res = await fetch(`${addr}/v1/${apiPath.replace(/^\//, '')}`, {
      method,
      headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const unsupported = async () => {
    throw new Error('not available for the shared Vault');
  };
  return {
    addr,
    rootToken,
    process: undefined,
    request,
    restart: unsupported,
    stopServer: unsupported,
    startServer: unsupported,
    stop: async () => {},
  };
}

/** A policy from operator/vault-policies, the example's `novapos/auth` tree replaced by `<namespace>/<name>`. */
export function policy(file: string, tree?: { namespace: string; name: string }): string {
  const text = readFileSync(path.join(repoRoot, 'operator/vault-policies', file), 'utf8');
  return tree
    ? text.replaceAll(
        'novapos/signing-keys/novapos/auth/',
        `novapos/signing-keys/${tree.namespace}/${tree.name}/`,
      )
    : text;
}

export interface VaultIdentity {
  /** A VaultClient that logs in with Kubernetes auth (the apiserver's TokenReview checks the token). */
  readonly client: VaultClient;
  readonly role: string;
  readonly mount: string;
  /** A file holding the ServiceAccount token (for child processes and auth-service's jwtPath). */
  readonly jwtPath: string;
}

/**
 * Kubernetes auth for a ServiceAccount with one of the repo's policies: enables the auth method at `mount`
 * (its own per suite, so suites do not reconfigure each other's), writes the policy and a role, and returns
 * a client that logs in with the ServiceAccount's token.
 */
export async function kubernetesVaultIdentity(
  vault: VaultInstance,
  kube: KubeAccess,
  opts: {
    mount: string;
    namespace: string;
    serviceAccount: string;
    policyFile: string;
    tree?: { namespace: string; name: string };
    dir: string;
  },
): Promise<VaultIdentity> {
  await enableVaultKubernetesAuth(vault, kube, opts.mount);
  const role = `${opts.serviceAccount}-${randomBytes(3).toString('hex')}`;
  await vaultKubernetesRole(vault, {
    name: role,
    policyName: role,
    policy: policy(opts.policyFile, opts.tree),
    namespace: opts.namespace,
    serviceAccount: opts.serviceAccount,
    mount: opts.mount,
  });
  const jwt = await serviceAccountToken(kube, opts.namespace, opts.serviceAccount, {
    expirationSeconds: 7200,
  });
  const jwtPath = path.join(opts.dir, `${role}.jwt`);
  writeFileSync(jwtPath, jwt, { mode: 0o600 });
  const client = new VaultClient({
    addr: vault.addr,
    auth: { method: 'kubernetes', role, jwtPath, mountPath: opts.mount },
  });
  return { client, role, mount: opts.mount, jwtPath };
}

/** A rotation's two Vault identities, and auth-service's Vault settings for its own. */
export interface RotationIdentities {
  /** The operator's (signing-key-operator.hcl): writes the key tree. */
  readonly operator: VaultIdentity;
  /** auth-service's (auth-service.hcl on the rotation's tree): reads it. */
  readonly auth: VaultIdentity;
  /** auth-service's VAULT_* variables for `auth` (services/auth-service/src/config.ts). */
  readonly authServiceEnv: Readonly<Record<string, string>>;
}

/**
 * A rotation's Vault identities as docs/signing-keys.md sets them up, with Kubernetes auth at a mount of the
 * namespace's own (`k8s-<namespace>`): the operator's ServiceAccount with the operator policy, auth-service's
 * with its policy on the tree of the rotation `name`.
 */
export async function rotationIdentities(
  vault: { readonly addr: string; readonly rootToken: string },
  kube: KubeAccess,
  opts: { namespace: string; name: string; dir: string },
): Promise<RotationIdentities> {
  const admin = vaultAdmin(vault.addr, vault.rootToken);
  const common = { mount: `k8s-${opts.namespace}`, namespace: opts.namespace, dir: opts.dir };
  const operator = await kubernetesVaultIdentity(admin, kube, {
    ...common,
    serviceAccount: 'novapos-operator',
    policyFile: 'signing-key-operator.hcl',
  });
  const auth = await kubernetesVaultIdentity(admin, kube, {
    ...common,
    serviceAccount: 'auth-service',
    policyFile: 'auth-service.hcl',
    tree: { namespace: opts.namespace, name: opts.name },
  });
  const authServiceEnv = {
    VAULT_ADDR: vault.addr,
    VAULT_AUTH_METHOD: 'kubernetes',
    VAULT_K8S_ROLE: auth.role,
    VAULT_K8S_MOUNT: auth.mount,
    VAULT_K8S_TOKEN_PATH: auth.jwtPath,
  };
  return { operator, auth, authServiceEnv };
}

/** A SigningKeyRotation object as a user would apply it (a copy of examples/ with test durations). */
export function aRotation(
  namespace: string,
  name: string,
  spec: Partial<SigningKeyRotationSpec>,
  annotations: Record<string, string> = {},
): SigningKeyRotation {
  return {
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'SigningKeyRotation',
    metadata: { name, namespace, annotations },
    spec: {
      issuer: 'https://auth.novapos.local',
      audiences: ['novapos-api'],
      algorithm: 'ES256',
      rotationInterval: '720h',
      leadTime: '48h',
      maxTokenTTL: '15m',
      jwksCacheTTL: '5m',
      vault: { connection: 'local', mount: 'secret' },
      suspend: false,
      ...spec,
    },
  };
}

/** Log lines kept in memory (scanned for key material). */
export function memoryLog(
  component = 'operator',
  echo = process.env.SKR_TEST_LOGS === '1',
): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      if (echo) process.stderr.write(chunk);
      cb();
    },
  });
  return { log: createLogger({ component, level: 'debug', destination }), lines };
}

/** Every private key the controller generates, kept to scan outputs for its private members. */
export class KeyRecorder {
  readonly keys: GeneratedKey[] = [];
  readonly generate = async (alg: GeneratedKey['alg'], keySize?: number): Promise<GeneratedKey> => {
    const key = await generateSigningKey(alg, keySize);
    this.keys.push(key);
    return key;
  };

  /** The private members' values (d, p, q, dp, dq, qi) of every generated key. */
  privateValues(): string[] {
    return this.keys.flatMap((k) => privateValuesOf(k.privateJwk));
  }
}

export function privateValuesOf(jwk: JWK): string[] {
  return PRIVATE_JWK_MEMBERS.map((m) => (jwk as Record<string, unknown>)[m]).filter(
    (v): v is string => typeof v === 'string',
  );
}

/** Names which kinds of outputs contain a private value (never prints the value). */
export function leakedIn(outputs: Record<string, string>, secrets: readonly string[]): string[] {
  return Object.entries(outputs)
    .filter(([, text]) => secrets.some((s) => s.length >= 16 && text.includes(s)))
    .map(([where]) => where);
}

export interface InProcessOperator {
  readonly manager: Manager;
  readonly lines: string[];
  readonly keys: KeyRecorder;
  stop(): Promise<void>;
}

/** The operator's Manager in this process with only the SigningKeyRotation controller. */
export async function startInProcessOperator(opts: {
  kubeconfig: string;
  namespaces: readonly string[];
  vault: VaultClient;
  controller?: Partial<SigningKeyRotationControllerOptions>;
}): Promise<InProcessOperator> {
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const { log, lines } = memoryLog();
  const keys = new KeyRecorder();
  const manager = new Manager({
    kubeConfig: kc,
    log,
    identity: `skr-test-${process.pid}`,
    watchNamespaces: opts.namespaces,
    leaderElection: false,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
    backoff: { baseMs: 200, maxMs: 5_000 },
    shutdownTimeoutMs: 5_000,
  });
  manager.register(
    signingKeyRotationController({
      vault: vaultSigningKeyStores(new Map([['local', opts.vault]])),
      generateKey: keys.generate,
      ...opts.controller,
    }),
  );
  await manager.start();
  return { manager, lines, keys, stop: () => manager.stop() };
}

/** A client of a Vault known by address and root token (test setup and inspection only). */
export const rootVaultClient = (v: { readonly addr: string; readonly rootToken: string }): VaultClient =>
  new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } });

/** The in-process operator on the shared env: its apiserver and its first Vault with the root token. */
export function startSharedEnvOperator(
  env: EnvDescriptor,
  namespaces: readonly string[],
  controller?: Partial<SigningKeyRotationControllerOptions>,
): Promise<InProcessOperator> {
  const kube = env.kube;
  const vault = env.vaults[0];
  if (!kube || !vault) throw new Error('the shared env has no apiserver or no Vault');
  return startInProcessOperator({
    kubeconfig: kube.kubeconfig,
    namespaces,
    vault: rootVaultClient(vault),
    controller,
  });
}

/**
 * Replicas as loopback servers behind a Service: the apiserver refuses loopback addresses in an EndpointSlice,
 * so the slice names pod-network addresses (10.99.0.N) and the operator's HTTP client, `viaLoopbackTwin`,
 * maps each to its loopback twin 127.0.0.N.
 */
export const podAddress = (n: number): string => `10.99.0.${n}`;
export const viaLoopbackTwin: typeof fetch = (input, init) =>
  fetch(String(input).replace(/^http:\/\/10\.99\.0\.(\d+):/, 'http://127.0.0.$1:'), init);

export interface KeyTree {
  readonly keyset?: Record<string, unknown> & {
    activeKid: string;
    nextKid: string;
    keysetHash: string;
    jwks: { keys: JWK[] };
  };
  /** kid → current secret data (state, privateJwk) and every version number in its metadata. */
  readonly secrets: Map<string, { data: Record<string, unknown>; versions: number[] }>;
}

/** The key tree of a resource as Vault holds it (root token: test inspection only). */
export async function readKeyTree(
  root: VaultClient,
  mount: string,
  namespace: string,
  name: string,
): Promise<KeyTree> {
  const base = `novapos/signing-keys/${namespace}/${name}`;
  const names = await root.kvList(mount, base);
  const keyset = (await root.kvRead(mount, `${base}/keyset`))?.data as KeyTree['keyset'];
  const secrets = new Map<string, { data: Record<string, unknown>; versions: number[] }>();
  for (const n of names.filter((x) => x !== 'keyset' && !x.endsWith('/'))) {
    const meta = await root.kvMetadata(mount, `${base}/${n}`);
    const current = await root.kvRead(mount, `${base}/${n}`);
    secrets.set(n, {
      data: (current?.data as Record<string, unknown>) ?? {},
      versions: Object.keys(meta?.versions ?? {}).map(Number),
    });
  }
  return { keyset, secrets };
}
