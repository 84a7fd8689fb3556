import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-novapos-'));
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
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-novapos-alone-'));
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

/**
 * Runs the plugin under a pseudo terminal (util-linux `script`), for colour and --watch redraws; stops it
 * once `until` holds for what it printed, or after `timeoutMs`.
 */
export function runInTerminal(
  bundle: string,
  args: readonly string[],
  opts: {
    kubeconfig: string;
    until: (out: string) => boolean;
    onOutput?: (out: string) => void;
    timeoutMs?: number;
  },
): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [bundle, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
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
    let out = '';
    const stop = () => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      stop();
      reject(
        new Error(`the plugin under a terminal did not print what was expected in time; it printed:\n${out}`),
      );
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (c) => {
      out += c;
      opts.onOutput?.(out);
      if (opts.until(out)) {
        stop();
        resolve(out);
      }
    });
    child.on('error', reject);
  });
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
export function runPipedUntil(
  bundle: string,
  args: readonly string[],
  opts: {
    kubeconfig: string;
    until: (out: string) => boolean;
    onOutput?: (out: string) => void;
    timeoutMs?: number;
  },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bundle, [...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', KUBECONFIG: opts.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`the plugin did not print what was expected in time; it printed:\n${out}`));
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (c) => {
      out += c;
      opts.onOutput?.(out);
      if (opts.until(out)) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve(out);
      }
    });
    child.on('error', reject);
  });
}

/**
 * The pod network a test without a node lacks: an HTTP forward proxy on loopback for the apiserver's proxy
 * transport (its HTTP_PROXY). The apiserver refuses loopback pod addresses, so a pod carries 10.99.0.N and
 * its replica listens on the loopback twin 127.0.0.N. Through an HTTP proxy the apiserver's request line
 * names its own Host (Go writes the Host header into the absolute URI), so the twin takes the pod and port
 * from the X-Forwarded-Uri the apiserver adds (`…/pods/NAME:PORT/proxy/…`) and sends the request to that
 * pod's twin address (`pods`, filled by the test) on that port. Everything between the plugin and the
 * apiserver, and the apiserver's pods/NAME:PORT/proxy itself (the pod looked up, its address checked), is
 * real. Records each request as `NAME:PORT/path`.
 */
export interface PodNetworkTwin {
  readonly url: string;
  readonly requests: string[];
  /** Pod name → its loopback twin address. */
  readonly pods: Map<string, string>;
  close(): Promise<void>;
}

export async function startPodNetworkTwin(): Promise<PodNetworkTwin> {
  const requests: string[] = [];
  const pods = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const forwarded = String(req.headers['x-forwarded-uri'] ?? '');
    const m = /\/pods\/([^/:]+):(\d+)\/proxy(\/[^?]*)?/.exec(forwarded);
    if (!m) {
      res
        .writeHead(403)
        .end(`the twin forwards only pods/NAME:PORT/proxy requests, not ${forwarded || req.url}`);
      return;
    }
    const [, pod, port, path] = m;
    const host = pods.get(pod!);
    if (!host) {
      res.writeHead(502).end(`no twin for pod ${pod}`);
      return;
    }
    requests.push(`${pod}:${port}${path ?? '/'}`);
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The operator's fetch to pod addresses 10.99.0.N, sent to their loopback twins 127.0.0.N. */
export const viaPodNetworkTwin: typeof fetch = (input, init) =>
  fetch(String(input).replace(/^http:\/\/10\.99\.0\.(\d+):/, 'http://127.0.0.$1:'), init);

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
