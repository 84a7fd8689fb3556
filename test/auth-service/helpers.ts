import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { generate } from 'otplib';
import pg from 'pg';
import { expect } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { configFromEnv } from '../../services/auth-service/src/config.js';
import { computeKeysetHash } from '../../services/auth-service/src/domain/keyring.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { type RunningAuthService, startAuthService } from '../../services/auth-service/src/server.js';
import { connectPostgres } from '../../services/auth-service/src/storage/db.js';
import { migrate } from '../../services/auth-service/src/storage/migrate.js';
import { AuthRepository } from '../../services/auth-service/src/storage/repo.js';
import type { EnvDescriptor } from '../harness/env.js';

export const ISSUER = 'https://auth.novapos.local';
export const AUDIENCE = 'novapos-api';

export interface TestSigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

/** A new signing key as the operator would make it: private JWK with kid and alg, public JWK for the set. */
export async function aSigningKey(
  alg = 'ES256',
  kid = `k-${randomBytes(6).toString('hex')}`,
): Promise<TestSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    kid,
    alg,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
  };
}

/**
 * Writes a key tree exactly per docs/contracts.md: one per-key secret at `<base>/<kid>` and the key-set
 * document at `<base>/keyset`, both with check-and-set (what the SigningKeyRotation controller will do).
 * `base` is `<mount>/novapos/signing-keys/<namespace>/<name>`. Keys are listed sorted by kid.
 */
export async function writeKeyTree(
  vault: VaultClient,
  base: string,
  opts: {
    keys: { key: TestSigningKey; state: 'next' | 'active' | 'retired' }[];
    activeKid: string;
    nextKid?: string;
    jwksCacheTTLSeconds?: number;
    maxTokenTTLSeconds?: number;
  },
): Promise<{ keysetHash: string }> {
  const [mount, ...rest] = base.split('/');
  const path = rest.join('/');
  for (const { key, state } of opts.keys) {
    const current = await vault.kvMetadata(mount!, `${path}/${key.kid}`);
    await vault.kvWrite(
      mount!,
      `${path}/${key.kid}`,
      { kid: key.kid, alg: key.alg, state, privateJwk: key.privateJwk, createdAt: new Date().toISOString() },
      { cas: current?.currentVersion ?? 0 },
    );
  }
  const jwks = {
    keys: [...opts.keys].sort((a, b) => a.key.kid.localeCompare(b.key.kid)).map((k) => k.key.publicJwk),
  };
  const keysetHash = computeKeysetHash(jwks, opts.activeKid);
  const current = await vault.kvMetadata(mount!, `${path}/keyset`);
  await vault.kvWrite(
    mount!,
    `${path}/keyset`,
    {
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithm: opts.keys[0]!.key.alg,
      jwks,
      activeKid: opts.activeKid,
      nextKid: opts.nextKid ?? '',
      keysetHash,
      jwksCacheTTLSeconds: opts.jwksCacheTTLSeconds ?? 300,
      maxTokenTTLSeconds: opts.maxTokenTTLSeconds ?? 900,
      updatedAt: new Date().toISOString(),
    },
    { cas: current?.currentVersion ?? 0 },
  );
  return { keysetHash };
}

/** A least-privilege token for the service: read on its own key tree only (the root token is for setup). */
export async function readOnlyToken(vault: VaultClient, rootToken: string, base: string): Promise<string> {
  const [mount, ...rest] = base.split('/');
  const name = `auth-test-${randomBytes(4).toString('hex')}`;
  const headers = { 'x-vault-token': rootToken, 'content-type': 'application/json' };
  // Its key tree, and the transit key for TOTP secrets (as operator/vault-policies/auth-service.hcl).
  const policy = [
    `path "${mount}/data/${rest.join('/')}/*" { capabilities = ["read"] }`,
    'path "transit/encrypt/novapos-auth-mfa" { capabilities = ["create", "update"] }',
    'path "transit/decrypt/novapos-auth-mfa" { capabilities = ["update"] }',
    'path "transit/rewrap/novapos-auth-mfa" { capabilities = ["update"] }',
  ].join('\n');
  const p = await fetch(`${vault.addr}/v1/sys/policies/acl/${name}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ policy }),
  });
  expect(p.status).toBe(204);
  const t = await fetch(`${vault.addr}/v1/auth/token/create`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ policies: [name], no_default_policy: false, ttl: '1h' }),
  });
  return ((await t.json()) as { auth: { client_token: string } }).auth.client_token;
}

/** A fresh database on the shared PostgreSQL for one suite. */
export async function aDatabase(postgresUrl: string, label: string): Promise<string> {
  const name = `auth_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Collects every log line the service writes. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Fails naming which kind of secret leaked (never printing the secret itself). */
export function expectNoSecrets(haystack: string, secrets: Record<string, string | undefined>): void {
  const leaked = Object.entries(secrets)
    .filter(([, v]) => v !== undefined && v.length >= 6 && haystack.includes(v))
    .map(([k]) => k);
  expect(leaked, 'secrets found in the captured output').toEqual([]);
}

export interface TestService extends RunningAuthService {
  readonly logs: LogCapture;
}

/** Starts auth-service in this process on a free port with an explicit env (as main.ts would from process.env). */
export async function startTestService(env: Record<string, string | undefined>): Promise<TestService> {
  const logs = new LogCapture();
  const config = configFromEnv({
    PORT: '0',
    ADMIN_PORT: '0',
    HOST: '127.0.0.1',
    // Lower argon2 cost in tests keeps the suite fast on 2 cores; the bench measures the real parameters.
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
    SIGNING_KEYSET_POLL_SECONDS: '3600',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const running = await startAuthService(config, { logDestination: logs });
  return Object.assign(running, { logs });
}

export function totpNow(secret: string, offsetSteps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });
}

/** Waits until the start of a fresh 30 s TOTP step if fewer than `margin` seconds are left in this one. */
export async function awaitFreshTotpWindow(margin = 5): Promise<void> {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left < margin) await new Promise((r) => setTimeout(r, left * 1000 + 200));
}

export type Http = (
  method: string,
  path: string,
  opts?: {
    body?: unknown;
    tenant?: string | null;
    token?: string;
    headers?: Record<string, string>;
    raw?: string;
  },
) => Promise<{
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}>;

export function httpClient(baseUrl: string, defaultTenant: string): Http {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const tenant = opts.tenant === undefined ? defaultTenant : opts.tenant;
    if (tenant !== null) headers['x-tenant-id'] = tenant;
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    } else if (opts.raw !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = {};
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}

/** Value of one sample in Prometheus text output (0 when absent). */
export async function metricValue(
  baseUrl: string,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) && Object.keys(labels).length === 0)
      return Number(line.slice(name.length + 1));
    if (!line.startsWith(`${name}{`)) continue;
    const labelPart = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...labelPart.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

export function uniquePrefix(label: string): string {
  return `secret/novapos/signing-keys/test-auth-${label}-${randomBytes(4).toString('hex')}/auth-issuer`;
}

export interface ServiceWithKeys {
  readonly svc: TestService;
  /** The active signing key, and the Vault path of its key tree (`secret/...`). */
  readonly key: TestSigningKey;
  readonly base: string;
  readonly keysetHash: string;
  /** The read-only Vault token the service runs with (scanned for in logs). */
  readonly serviceToken: string;
  /** Its own database (the gateway reads API keys from it). */
  readonly databaseUrl: string;
}

/**
 * The real auth-service on a database of its own, signing with one active key that a fresh key tree in the
 * shared OpenBao holds, reached with a read-only token: what every auth-service suite starts from.
 */
export async function startServiceWithKeys(
  env: EnvDescriptor,
  label: string,
  opts: { alg?: TestSigningKey['alg']; serviceEnv?: Record<string, string> } = {},
): Promise<ServiceWithKeys> {
  const vaultEnv = env.vaults[0]!;
  const root = new VaultClient({ addr: vaultEnv.addr, auth: { method: 'token', token: vaultEnv.rootToken } });
  const base = uniquePrefix(label);
  const key = await aSigningKey(opts.alg ?? 'ES256');
  const { keysetHash } = await writeKeyTree(root, base, {
    keys: [{ key, state: 'active' }],
    activeKid: key.kid,
  });
  const serviceToken = await readOnlyToken(root, vaultEnv.rootToken, base);
  const databaseUrl = await aDatabase(env.postgresUrl!, label.replace(/-/g, '_'));
  const svc = await startTestService({
    DATABASE_URL: databaseUrl,
    // Session revocation through the shared Redis, as in production (the gateway reads the same keys).
    REDIS_URL: env.redisUrl,
    VAULT_ADDR: vaultEnv.addr,
    VAULT_TOKEN: serviceToken,
    SIGNING_KEYSET_PATH: base,
    ...opts.serviceEnv,
  });
  return { svc, key, base, keysetHash, serviceToken, databaseUrl };
}

/** The stable error code of a service answer (`{error:{code}}`), or undefined. */
export const errorCode = (res: { body: Record<string, unknown> }): string | undefined =>
  (res.body['error'] as { code?: string } | undefined)?.code;

/**
 * Tenant acme and one cashier in it, written with auth-service's own repository and its production Argon2
 * settings: the user a deployed auth-service logs in (the README's login examples). `migrate` sets the
 * schema up first, for a database no auth-service has started on yet.
 */
export async function seedAcmeCashier(
  databaseUrl: string,
  user: { readonly email: string; readonly password: string },
  opts: { readonly migrate?: boolean } = {},
): Promise<void> {
  const db = connectPostgres(databaseUrl);
  try {
    if (opts.migrate) await migrate(db);
    const repo = new AuthRepository(db);
    await repo.createTenant('acme', 'Acme');
    const hasher = new PasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    await repo.createUser({
      tenantId: 'acme',
      email: user.email,
      passwordHash: await hasher.hash(user.password),
      roles: ['cashier'],
    });
  } finally {
    await db.close();
  }
}
