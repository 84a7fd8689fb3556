import { execFile } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { createLogger, type Logger } from '../../lib/log.js';
import {
  type ControllerFactory,
  Manager,
  type ManagerOptions,
  ThrottleAwareKubeConfig,
} from '../../operator/src/runtime/index.js';

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const widgetCrdDir = path.join(repoRoot, 'test/runtime/crds');

export type Kubectl = (args: readonly string[], input?: string) => Promise<string>;

export function kubectlFor(kubectlPath: string, kubeconfig: string): Kubectl {
  return async (args, input) => {
    const child = run(kubectlPath, ['--kubeconfig', kubeconfig, ...args], {
      timeout: 120_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (input !== undefined) child.child.stdin?.end(input);
    try {
      return (await child).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  };
}

export async function installWidgetCrd(kubectl: Kubectl): Promise<void> {
  await kubectl(['apply', '--server-side', '--field-manager=runtime-tests', '-f', widgetCrdDir]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', widgetCrdDir]);
}

/**
 * The operator's KubeConfig (429/Retry-After honoured) that also counts the write requests (POST, PUT, PATCH,
 * DELETE) made through API clients built from it; a retried request counts once per attempt.
 */
export class CountingKubeConfig extends ThrottleAwareKubeConfig {
  readonly writes: { method: string; url: string }[] = [];

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const method = String(context.getHttpMethod());
    if (method !== 'GET') this.writes.push({ method, url: context.getUrl() });
    return super.applySecurityAuthentication(context);
  }
}

/** A JSON logger whose lines are kept in memory (to scan them for secrets). */
export function memoryLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      if (process.env.RUNTIME_TEST_LOGS) process.stderr.write(chunk);
      cb();
    },
  });
  return { log: createLogger({ component: 'operator', level, destination }), lines };
}

export interface TestManagerOptions extends Partial<ManagerOptions> {
  readonly kubeconfigPath: string;
  readonly controllers: readonly ControllerFactory[];
  readonly identity?: string;
}

export function testManager(opts: TestManagerOptions): {
  manager: Manager;
  kc: CountingKubeConfig;
  lines: string[];
} {
  const kc = new CountingKubeConfig();
  kc.loadFromFile(opts.kubeconfigPath);
  const { log, lines } = memoryLogger();
  const { kubeconfigPath: _p, controllers, ...rest } = opts;
  const manager = new Manager({
    kubeConfig: kc,
    log,
    identity: opts.identity ?? `test-${process.pid}`,
    leaderElection: false,
    metricsPort: 0,
    probesPort: 0,
    bindAddress: '127.0.0.1',
    backoff: { baseMs: 100, maxMs: 5_000 },
    rateLimit: { ratePerSecond: 500, burst: 500 },
    shutdownTimeoutMs: 5_000,
    ...rest,
  });
  for (const c of controllers) manager.register(c);
  return { manager, kc, lines };
}

export function widgetYaml(namespace: string, name: string, spec: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'test.novapos.io/v1',
    kind: 'Widget',
    metadata: { name, namespace },
    spec,
  });
}

export interface WidgetState {
  name: string;
  generation: number;
  observedGeneration?: number;
  ready?: { status: string; reason: string; message: string; observedGeneration?: number };
}

export async function widgets(kubectl: Kubectl, namespace: string): Promise<WidgetState[]> {
  const out = JSON.parse(
    await kubectl(['get', 'widgets.test.novapos.io', '-n', namespace, '-o', 'json']),
  ) as {
    items: {
      metadata: { name: string; generation: number };
      status?: { observedGeneration?: number; conditions?: WidgetState['ready'][] };
    }[];
  };
  return out.items.map((w) => ({
    name: w.metadata.name,
    generation: w.metadata.generation,
    observedGeneration: w.status?.observedGeneration,
    ready: w.status?.conditions?.find((c) => (c as { type?: string } | undefined)?.type === 'Ready'),
  }));
}

/** True when every widget's Ready is True for its current generation. */
export function allReady(ws: readonly WidgetState[], expected: number): boolean {
  return (
    ws.length === expected &&
    ws.every(
      (w) =>
        w.ready?.status === 'True' &&
        w.ready.observedGeneration === w.generation &&
        w.observedGeneration === w.generation,
    )
  );
}

export async function metricValue(
  metricsUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}

/** GET on the apiserver with the admin token, trusting its CA (node:https; fetch cannot take a CA). */
export async function apiserverGet(
  server: string,
  caCert: string,
  token: string,
  urlPath: string,
): Promise<string> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${server}${urlPath}`,
      { ca: caCert, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${urlPath}: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
  });
}

/** Sum of apiserver_request_total for write verbs on the given resources (from the apiserver's /metrics). */
export async function apiserverWrites(
  server: string,
  caCert: string,
  token: string,
  resources: readonly string[],
): Promise<number> {
  const text = await apiserverGet(server, caCert, token, '/metrics');
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1];
    const resource = /resource="([^"]*)"/.exec(line)?.[1];
    if (!verb || !resource || !['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'CREATE', 'UPDATE'].includes(verb))
      continue;
    if (resources.includes(resource)) total += Number(line.split(' ').pop());
  }
  return total;
}
