import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { componentBinaries } from '../bins.js';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';
import { waitUntil } from '../wait.js';

const run = promisify(execFile);

/** A user the apiserver knows by a static bearer token (`--token-auth-file`). */
export interface KubeUser {
  readonly name: string;
  readonly token: string;
  readonly groups: readonly string[];
}

export interface KubeOptions {
  /** Directory of CRD YAML to install once the apiserver is ready. Default: the repository's `crds/` when it has files. */
  readonly crdDirs?: readonly string[];
  /** Extra users besides `admin` (system:masters). */
  readonly users?: readonly KubeUser[];
  /** Extra kube-apiserver flags. */
  readonly extraArgs?: readonly string[];
  /**
   * Extra environment of kube-apiserver, e.g. HTTP_PROXY for the proxy transport it uses to reach pods
   * and Services (apiserver/pods/NAME/proxy), which a test without a pod network points at loopback twins.
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Address kube-apiserver binds to and advertises. Default 127.0.0.1. The harness's node passes its bridge
   * address: pods reach the apiserver through the `kubernetes` Service, which cannot point at loopback.
   */
  readonly address?: string;
  /** The Service ClusterIP range. Default 10.0.0.0/24 (never routed: no node runs there). */
  readonly serviceClusterIpRange?: string;
  /**
   * A cluster that runs pods (the harness's node): ServiceAccount admission on, so pods get their token, and
   * the default endpoint reconciler, so the `kubernetes` Service points at `address`. Default false: the
   * envtest way, for suites that only need the API.
   */
  readonly runsPods?: boolean;
}

export interface KubeInstance {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** kubeconfig for `admin` (system:masters), usable by kubectl and @kubernetes/client-node. */
  readonly kubeconfig: string;
  readonly adminToken: string;
  readonly users: readonly KubeUser[];
  /** PEM of the CA that signed the apiserver's serving certificate. */
  readonly caCert: string;
  readonly etcdUrl: string;
  readonly kubectlPath: string;
  readonly apiserver: ManagedProcess;
  readonly etcd: ManagedProcess;
  /** Writes a kubeconfig for another user (from `users`) and returns its path. */
  kubeconfigFor(user: string): string;
  /** Runs kubectl with the admin kubeconfig; resolves stdout, rejects with stderr. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
  /** Stops and starts kube-apiserver on the same address and etcd (watches break, data stays). */
  restartApiserver(): Promise<void>;
  /**
   * Waits until every kind of the CRDs in `crdDir` (default: the repository's `crds/`) accepts writes. Call it
   * after installing admission policies too: their plugin resolves kinds through discovery of its own and
   * answers "Resource kind ... not found" for a while.
   */
  waitUntilServed(crdDir?: string): Promise<void>;
  /** Compacts etcd at its current revision so watches from older resourceVersions get 410 Gone. */
  compactEtcd(): Promise<number>;
  stop(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

/** GET that only looks at the status code; the apiserver's self-signed certificate is not checked here. */
function httpOk(url: string, token?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(
      url,
      {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        rejectUnauthorized: false,
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

function tokenLine(u: KubeUser): string {
  return `${u.token},${u.name},${u.name},"${u.groups.join(',')}"`;
}

function writeKubeconfig(file: string, server: string, caCert: string, user: string, token: string): void {
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'novapos-test',
          cluster: { server, 'certificate-authority-data': Buffer.from(caCert).toString('base64') },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: 'novapos-test', user, namespace: 'default' } }],
      'current-context': user,
    }),
    { mode: 0o600 },
  );
}

/** etcd + kube-apiserver on loopback, the envtest way: no kubelet, no controller-manager. */
export async function startKube(dir: string, opts: KubeOptions = {}): Promise<KubeInstance> {
  const { kubebuilderAssets } = componentBinaries('k8s');
  if (!kubebuilderAssets)
    throw new Error('no kube-apiserver binaries: test/bins/build.sh k8s printed nothing');
  const bin = (name: string) => path.join(kubebuilderAssets, name);
  const home = path.join(dir, 'kube');
  const certDir = path.join(home, 'certs');
  mkdirSync(certDir, { recursive: true });
  const logDir = path.join(dir, 'logs');

  const etcdPort = await freePort();
  const peerPort = await freePort();
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const etcd = await ManagedProcess.start(
    {
      name: 'etcd',
      command: bin('etcd'),
      args: [
        `--data-dir=${path.join(home, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      ready: () => httpOk(`${etcdUrl}/health`),
    },
    logDir,
  );

  // One RSA key signs and verifies service-account tokens, so TokenRequest and TokenReview work.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKeyFile = path.join(certDir, 'sa.key');
  writeFileSync(saKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

  const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
  const users: KubeUser[] = [
    { name: 'admin', token: adminToken, groups: ['system:masters'] },
    ...(opts.users ?? []),
  ];
  const tokenFile = path.join(certDir, 'tokens.csv');
  writeFileSync(tokenFile, users.map(tokenLine).join('\n') + '\n', { mode: 0o600 });

  const port = await freePort();
  const address = opts.address ?? '127.0.0.1';
  const server = `https://${address}:${port}`;
  const args = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${port}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--service-cluster-ip-range=${opts.serviceClusterIpRange ?? '10.0.0.0/24'}`,
    '--allow-privileged=true',
    ...(opts.runsPods ? [] : ['--disable-admission-plugins=ServiceAccount']),
    '--authorization-mode=RBAC',
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${saKeyFile}`,
    `--service-account-signing-key-file=${saKeyFile}`,
    `--token-auth-file=${tokenFile}`,
    '--enable-priority-and-fairness=false',
    // The `kubernetes` Service cannot point at a loopback address; without this the apiserver logs an error
    // every ten seconds trying.
    ...(opts.runsPods ? [] : ['--endpoint-reconciler-type=none']),
    '--v=1',
    ...(opts.extraArgs ?? []),
  ];
  const startApiserver = () =>
    ManagedProcess.start(
      {
        name: 'kube-apiserver',
        command: bin('kube-apiserver'),
        args,
        ...(opts.env ? { env: opts.env } : {}),
        ready: () => httpOk(`${server}/readyz`, adminToken),
        readyTimeoutMs: 90_000,
      },
      logDir,
    );
  let apiserver = await startApiserver();

  // The self-signed serving certificate is written to the cert dir; its chain ends in the CA to trust.
  const caCert = readServingCa(certDir);
  const kubeconfig = path.join(home, 'admin.kubeconfig');
  writeKubeconfig(kubeconfig, server, caCert, 'admin', adminToken);

  const kubectlOnce = async (kargs: readonly string[], input?: string): Promise<string> => {
    const child = run(bin('kubectl'), ['--kubeconfig', kubeconfig, ...kargs], {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    try {
      return (await child).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${kargs.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  };
  const kubectl = (kargs: readonly string[], input?: string) =>
    retryWhileNotServed(() => kubectlOnce(kargs, input));

  const crdDirs = opts.crdDirs ?? [path.join(repoRoot, 'crds')];
  for (const crdDir of crdDirs) {
    const files = existsSync(crdDir) ? readdirSync(crdDir).filter((f) => /\.ya?ml$/.test(f)) : [];
    if (!files.length) continue;
    await kubectl(['apply', '--server-side', '--field-manager=novapos-harness', '-f', crdDir]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', crdDir]);
    await waitUntilServed(kubectl, crdDir, files);
  }

  const instance: KubeInstance = {
    server,
    kubeconfig,
    adminToken,
    users,
    caCert,
    etcdUrl,
    kubectlPath: bin('kubectl'),
    get apiserver() {
      return apiserver;
    },
    etcd,
    async waitUntilServed(crdDir = path.join(repoRoot, 'crds')) {
      const files = existsSync(crdDir) ? readdirSync(crdDir).filter((f) => /\.ya?ml$/.test(f)) : [];
      await waitUntilServed(kubectl, crdDir, files);
    },
    kubeconfigFor(user: string) {
      const u = users.find((x) => x.name === user);
      if (!u) throw new Error(`no such test user ${user}; known: ${users.map((x) => x.name).join(', ')}`);
      const file = path.join(home, `${user}.kubeconfig`);
      writeKubeconfig(file, server, caCert, user, u.token);
      return file;
    },
    kubectl,
    async restartApiserver() {
      await apiserver.stop();
      apiserver = await startApiserver();
    },
    async compactEtcd() {
      const range = await fetch(`${etcdUrl}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
      });
      const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
      const res = await fetch(`${etcdUrl}/v3/kv/compaction`, {
        method: 'POST',
        body: JSON.stringify({ revision, physical: true }),
      });
      if (!res.ok) throw new Error(`etcd compaction at ${revision}: ${res.status} ${await res.text()}`);
      return revision;
    },
    async stop() {
      await apiserver.stop();
      await etcd.stop();
    },
  };
  await waitUntil(
    'the default namespace',
    async () => (await kubectl(['get', 'namespace', 'default', '-o', 'name'])).includes('default'),
    {
      timeoutMs: 30_000,
    },
  );
  return instance;
}

function readServingCa(certDir: string): string {
  const pem = readFileSync(path.join(certDir, 'apiserver.crt'), 'utf8');
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  // apiserver.crt holds the serving certificate followed by its self-signed CA.
  return `${certs[certs.length - 1]}\n`;
}

/** A custom resource's identity, read from its CRD file. */
interface CrdIdentity {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

function crdIdentities(dir: string, files: readonly string[]): CrdIdentity[] {
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))
      .map(
        (d) =>
          d.toJS() as {
            kind?: string;
            spec?: {
              group: string;
              scope: string;
              names: { kind: string };
              versions: { name: string; served: boolean; storage: boolean }[];
            };
          } | null,
      )
      .filter((d) => d?.kind === 'CustomResourceDefinition' && d.spec)
      .map((d) => {
        const spec = d!.spec!;
        const version = spec.versions.find((v) => v.storage) ?? spec.versions[0]!;
        return {
          apiVersion: `${spec.group}/${version.name}`,
          kind: spec.names.kind,
          namespaced: spec.scope === 'Namespaced',
        };
      }),
  );
}

/** What kube-apiserver answers while one of its caches has not yet caught up with a new CRD or policy. */
const NOT_YET_SERVED =
  /There can be a delay between when CustomResourceDefinitions are created and when they are available/;

/**
 * Runs `write` again while the apiserver refuses it only because a kind is not yet served everywhere (it
 * says to retry), for up to 30 s, as a client would; any other error is returned at once. Waiting until a
 * kind is served (below) is not enough on its own: an admission policy that becomes active afterwards looks
 * kinds up through its own discovery, which can lag again.
 */
export async function retryWhileNotServed<T>(write: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if (!NOT_YET_SERVED.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The custom resources in the repository's examples/, by apiVersion/kind. */
function exampleObjects(): Map<string, Record<string, unknown>> {
  const dir = path.join(repoRoot, 'examples');
  const out = new Map<string, Record<string, unknown>>();
  if (!existsSync(dir)) return out;
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))) {
      const obj = doc.toJS() as { apiVersion?: string; kind?: string } | null;
      if (obj?.apiVersion && obj.kind) out.set(`${obj.apiVersion}/${obj.kind}`, obj);
    }
  }
  return out;
}

/**
 * Established is not yet servable: for a moment after it, writes of the new kind can fail with
 * "ServiceUnavailable: Resource kind ... not found". A server-side dry-run of a valid object tells: once the
 * kind is served by every admission plugin it succeeds (or fails for another reason), never "not found".
 */
async function waitUntilServed(
  kubectl: (args: readonly string[], input?: string) => Promise<string>,
  dir: string,
  files: readonly string[],
): Promise<void> {
  const valid = exampleObjects();
  for (const crd of crdIdentities(dir, files)) {
    // A valid object where examples/ has one: an invalid probe is refused by schema validation before the
    // validating admission plugins look it up, and those resolve kinds through their own discovery, which
    // lags; only a write that reaches every plugin proves the kind accepts writes.
    const example = valid.get(`${crd.apiVersion}/${crd.kind}`);
    const probe = stringify({
      ...(example ?? { apiVersion: crd.apiVersion, kind: crd.kind }),
      metadata: { name: 'harness-probe', ...(crd.namespaced ? { namespace: 'default' } : {}) },
    });
    await waitUntil(
      `${crd.kind} (${crd.apiVersion}) to be served`,
      async () => {
        try {
          await kubectl(
            ['apply', '--server-side', '--dry-run=server', '--field-manager=novapos-harness', '-f', '-'],
            probe,
          );
          return true;
        } catch (err) {
          return !/ServiceUnavailable|not found|no matches for kind|could not find the requested resource/i.test(
            (err as Error).message,
          );
        }
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }
}
