import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const scratch: string[] = [];

/**
 * A fresh directory under the system temp dir (`PREFIX-XXXXXX`), removed with everything in it after the
 * test file that made it: importing this module registers the afterAll that removes them.
 */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** Removes every scratchDir made so far (run after each test file that imports this module). */
export function removeScratchDirs(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

afterAll(removeScratchDirs);

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Builds the plugin with cli/build.mjs into a directory outside the repository and copies nothing else
 * there: the bundle must run on its own.
 */
export async function buildPlugin(): Promise<string> {
  const dir = scratchDir('kubectl-novapos-');
  const out = path.join(dir, 'bin', 'kubectl-novapos');
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [path.join(repoRoot, 'cli/build.mjs'), out],
      { cwd: repoRoot },
      (err, _o, stderr) => (err ? reject(new Error(`cli/build.mjs: ${stderr || err.message}`)) : resolve()),
    ),
  );
  return out;
}

/** A copy of the bundle alone in a fresh directory, for the "runs without the repository" check. */
export function copyAlone(bundle: string): string {
  const dir = scratchDir('kubectl-novapos-alone-');
  const out = path.join(dir, 'kubectl-novapos');
  cpSync(bundle, out);
  return out;
}

/**
 * Runs the plugin as a process, as kubectl would (argv after the plugin name), with KUBECONFIG pointing at
 * the given file and no terminal: stdout and stderr are pipes.
 */
export function runPlugin(
  bundle: string,
  args: readonly string[],
  opts: {
    kubeconfig?: string;
    env?: Record<string, string>;
    input?: string;
    cwd?: string;
    timeoutMs?: number;
  } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bundle, [...args], {
      cwd: opts.cwd ?? path.dirname(bundle),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** What runInTerminal and runPipedUntil read until. */
interface Until {
  kubeconfig: string;
  until: (out: string) => boolean;
  onOutput?: (out: string) => void;
  timeoutMs?: number;
}

/** Collects the child's stdout until `opts.until` holds (then `stop`s it), or fails after `timeoutMs`. */
function readUntil(child: ChildProcess, stop: () => void, opts: Until, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const end = () => {
      clearTimeout(timer);
      stop();
    };
    const timer = setTimeout(() => {
      end();
      reject(new Error(`${what} did not print what was expected in time; it printed:\n${out}`));
    }, opts.timeoutMs ?? 60_000);
    child.stdout!.on('data', (c) => {
      out += c;
      opts.onOutput?.(out);
      if (opts.until(out)) {
        end();
        resolve(out);
      }
    });
    child.on('error', reject);
  });
}

/**
 * Runs the plugin under a pseudo terminal (util-linux `script`), for colour and --watch redraws; stops it
 * once `until` holds for what it printed, or after `timeoutMs`.
 */
export function runInTerminal(bundle: string, args: readonly string[], opts: Until): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [bundle, ...args].map(quote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      KUBECONFIG: opts.kubeconfig,
      TERM: 'xterm-256color',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  return readUntil(child, stop, opts, 'the plugin under a terminal');
}

export const KREW_VERSION = 'v0.4.3';

/**
 * krew, built from the Go module proxy into the harness's binary cache (outside the repository) the first
 * time, as test/bins builds the other real components.
 */
export async function krewBinary(): Promise<string> {
  const cache =
    process.env.NOVAPOS_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/root', '.cache'), 'novapos');
  const bin = path.join(cache, 'bin', `krew-${KREW_VERSION}`);
  const krew = path.join(bin, 'krew');
  if (existsSync(krew)) return krew;
  await new Promise<void>((resolve, reject) =>
    execFile(
      'go',
      ['install', `sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}`],
      {
        env: {
          ...process.env,
          GOBIN: bin,
          GOTOOLCHAIN: 'local',
          GOFLAGS: '-mod=mod',
          GOCACHE: process.env.GOCACHE ?? path.join(cache, 'go-build'),
        },
        timeout: 600_000,
      },
      (err, _o, stderr) => (err ? reject(new Error(`go install krew: ${stderr || err.message}`)) : resolve()),
    ),
  );
  return krew;
}

/** Runs the plugin with piped output until `until` holds for its stdout (for --watch when piped). */
export function runPipedUntil(bundle: string, args: readonly string[], opts: Until): Promise<string> {
  const child = spawn(bundle, [...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', KUBECONFIG: opts.kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return readUntil(child, () => child.kill('SIGTERM'), opts, 'the plugin');
}

/**
 * The pod network a test without a node lacks: an HTTP forward proxy on loopback for the apiserver's proxy
 * transport (its HTTP_PROXY). The apiserver refuses loopback pod addresses, so a pod carries 10.99.0.N and
 * its replica listens on the loopback twin 127.0.0.N. Through an HTTP proxy the apiserver's request line
 * names its own Host (Go writes the Host header into the absolute URI), so the twin takes the pod and port
 * from the X-Forwarded-Uri the apiserver adds (`…/pods/NAME:PORT/proxy/…`) and sends the request to that
 * pod's twin address (`pods`, filled by the test) on that port. Everything between the plugin and the
 * apiserver, and the apiserver's pods/NAME:PORT/proxy itself (the pod looked up, its address checked), is
 * real. Records each request as `NAME:PORT/path`. A Service proxy request (services/NAME:PORT/proxy, the
 * apiserver having resolved the Service's endpoints) goes to the twin `services` names and is recorded as
 * `svc/NAME:PORT/path`.
 */
export interface PodNetworkTwin {
  readonly url: string;
  readonly requests: string[];
  /** Pod name → its loopback twin address. */
  readonly pods: Map<string, string>;
  /**
   * `SERVICE:PORT` (a Service port) → the twin address and port behind it, for the apiserver's Service
   * proxy (services/NAME:PORT/proxy: which endpoint it picked is not visible through an HTTP proxy, so the
   * test names one) and for viaPodNetworkTwin.
   */
  readonly services: Map<string, { host: string; port: number }>;
  close(): Promise<void>;
}

export async function startPodNetworkTwin(): Promise<PodNetworkTwin> {
  const requests: string[] = [];
  const pods = new Map<string, string>();
  const services = new Map<string, { host: string; port: number }>();
  const server = http.createServer((req, res) => {
    const forwarded = String(req.headers['x-forwarded-uri'] ?? '');
    const m = /\/pods\/([^/:]+):(\d+)\/proxy(\/[^?]*)?/.exec(forwarded);
    const svc = /\/services\/([^/:]+):([^/]+)\/proxy(\/[^?]*)?/.exec(forwarded);
    let host: string | undefined;
    let port: string | undefined;
    if (m) {
      const [, pod, podPort, path] = m;
      host = pods.get(pod!);
      port = podPort;
      if (host) requests.push(`${pod}:${port}${path ?? '/'}`);
    } else if (svc) {
      const [, name, svcPort, path] = svc;
      const target = services.get(`${name}:${svcPort}`);
      [host, port] = target ? [target.host, String(target.port)] : [];
      if (host) requests.push(`svc/${name}:${svcPort}${path ?? '/'}`);
    } else {
      res
        .writeHead(403)
        .end(
          `the twin forwards only pods/ and services/NAME:PORT/proxy requests, not ${forwarded || req.url}`,
        );
      return;
    }
    if (!host) {
      res.writeHead(502).end(`no twin for ${forwarded}`);
      return;
    }
    const target = new URL(req.url ?? '/', 'http://x');
    const upstream = http.request(
      {
        host,
        port: Number(port),
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers: { ...req.headers, host: `${host}:${port}` },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(err.message);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    pods,
    services,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * The operator's fetch through the twin's network: pod addresses 10.99.0.N to their loopback twins
 * 127.0.0.N, and an in-cluster Service name (`NAME.NS.svc:PORT`, a deprecated statusURL or reloadURL) to the
 * twin `twin.services` names for `NAME:PORT`, as cluster DNS and the Service's virtual IP would.
 */
export function viaPodNetworkTwin(twin: PodNetworkTwin): typeof fetch {
  return (input, init) => {
    const url = String(input).replace(/^http:\/\/10\.99\.0\.(\d+):/, 'http://127.0.0.$1:');
    const svc = /^http:\/\/([a-z0-9-]+)\.[a-z0-9-]+\.svc(?:\.cluster\.local)?:(\d+)(\/.*)?$/.exec(url);
    const target = svc && twin.services.get(`${svc[1]}:${svc[2]}`);
    return fetch(target ? `http://${target.host}:${target.port}${svc[3] ?? '/'}` : url, init);
  };
}

/**
 * A pod as the apiserver knows it without a node: the object, and its status written as a kubelet would
 * (Running, Ready, the pod address), for pods/NAME/proxy and EndpointSlices to point at.
 */
export function podObject(namespace: string, name: string, labels: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'main', image: 'novapos/none:never-pulled' }] },
  };
}

export function podStatus(ip: string) {
  return {
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

/** A Service's EndpointSlice naming its ready pods, as the endpoint controller would write it. */
export function endpointSlice(
  namespace: string,
  service: string,
  pods: readonly { pod: string; ip: string }[],
  ports: Record<string, number>,
) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-1`, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: Object.entries(ports).map(([name, port]) => ({ name, port, protocol: 'TCP' })),
    endpoints: pods.map(({ pod, ip }) => ({
      addresses: [ip],
      conditions: { ready: true },
      targetRef: { kind: 'Pod', name: pod, namespace },
    })),
  };
}
