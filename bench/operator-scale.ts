// What the operator adds over the API server it runs against, measured in one run:
//   npx tsx bench/operator-scale.ts [--n 1000,10000] [--kinds widget,tenantratelimit] [--levels 4,8,16,32,64]
//                                   [--budget-min 60] [--profile] [--out bench/results/operator-scale.json]
//                                   [--node-flags=...] [--operator-env=K=V,...] [--no-chart-node-options]
// The operator runs with the NODE_OPTIONS of its chart (charts/dist/novapos-operator.yaml), as deployed.
// For each kind and N, against one private kube-apiserver + etcd of the test harness:
//  1. ceiling: a bare client (client-node, no operator) writes what the operator writes for N objects — a
//     finalizer patch, a status patch and an Event per object, one object after the other on each of
//     `c` connections — as fast as the apiserver takes them, at each concurrency c; the best is the ceiling;
//  2. idle: the same operator bundle with no controllers, then with its controllers and nothing to do;
//  3. cold start: N objects exist, the operator starts; time until all are Ready (a watch; `--ready-by events`
//     sees the end without one: readyByEvents);
//  4. hot: N more objects created while it runs; time until all are Ready;
//  5. steady state: a new operator over the 2N Ready objects reconciles each once and writes nothing (goal 0).
// Per phase: time, apiserver requests by verb and resource (the apiserver's own apiserver_request_total),
// writes per object, reconciles/s, the operator's RSS and V8 heap. TenantRateLimits need a gateway replica to
// acknowledge their limits: the integration gateway's own ConfigStore runs in this process against the
// harness Redis. `--profile` runs the largest operator with --cpu-prof and takes a heap snapshot at the end
// (bench/profile-summary.ts reads both). Results: bench/results/operator-scale.json; ratios only.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi, EventsV1Api, type KubernetesObject, Watch } from '@kubernetes/client-node';
import { build } from 'esbuild';
import { describeError } from '../lib/errors.js';
import { mergePatch, microTime, ThrottleAwareKubeConfig } from '../operator/src/runtime/index.js';
import { DEFAULT_MAX_CONCURRENT_RECONCILES } from '../operator/src/runtime/manager.js';
import { startAckReplica } from '../test/gateway/ack-replica.js';
import { startEnv } from '../test/harness/env.js';
import { waitUntil } from '../test/harness/wait.js';
import { apiserverGet, metricValue, widgetCrdDir } from '../test/runtime/support.js';
import { processCpuSeconds, required } from './support.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const sizes = (arg('n') ?? '1000,10000').split(',').map(Number);
const firstSize = required(sizes[0], 'a size in --n');
const kinds = (arg('kinds') ?? 'widget,tenantratelimit').split(',') as KindName[];
const levels = (arg('levels') ?? '4,8,16,32,64').split(',').map(Number);
const budgetMs = Number(arg('budget-min') ?? 90) * 60_000;
const profile = process.argv.includes('--profile');
// The ceiling is a rate: on a slow machine it may be measured on fewer objects and scaled to N.
const ceilingSample = Number(arg('ceiling-sample') ?? Number.POSITIVE_INFINITY);
// Extra node flags for the operator (e.g. --node-flags=--max-semi-space-size=8), space-separated.
const operatorNodeFlags = (
  process.argv.find((a) => a.startsWith('--node-flags='))?.slice('--node-flags='.length) ?? ''
)
  .split(' ')
  .filter(Boolean);
// The operator runs with the NODE_OPTIONS its chart gives it (charts/dist/novapos-operator.yaml), unless
// --no-chart-node-options; --operator-env=K=V,K=V adds environment variables (e.g. MALLOC_ARENA_MAX=2).
const chartNodeOptions = process.argv.includes('--no-chart-node-options')
  ? ''
  : (/- name: NODE_OPTIONS\n\s+value: (.+)\n/.exec(
      readFileSync(path.join(repoRoot, 'charts/dist/novapos-operator.yaml'), 'utf8'),
    )?.[1] ?? '');
const operatorEnv = Object.fromEntries(
  (process.argv.find((a) => a.startsWith('--operator-env='))?.slice('--operator-env='.length) ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
/** The operator's workers per controller in this run (OPERATOR_MAX_CONCURRENT_RECONCILES). */
const OPERATOR_WORKERS = Number(
  operatorEnv.OPERATOR_MAX_CONCURRENT_RECONCILES ?? DEFAULT_MAX_CONCURRENT_RECONCILES,
);
// How the cold start's end is observed: `watch` (default, as the hot phase) or `events` (readyByEvents).
const readyBy = (arg('ready-by') ?? 'watch') as 'events' | 'watch';
if (readyBy !== 'events' && readyBy !== 'watch') throw new Error('--ready-by is events or watch');
const startedAt = Date.now();
const left = () => budgetMs - (Date.now() - startedAt);

type KindName = 'widget' | 'tenantratelimit';
interface KindDef {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly controller: string;
  body(name: string, i: number): Record<string, unknown>;
}
const KINDS: Record<KindName, KindDef> = {
  widget: {
    group: 'test.novapos.io',
    version: 'v1',
    kind: 'Widget',
    plural: 'widgets',
    controller: 'widget',
    body: () => ({ spec: { size: 1 } }),
  },
  tenantratelimit: {
    group: 'security.novapos.io',
    version: 'v1alpha1',
    kind: 'TenantRateLimit',
    plural: 'tenantratelimits',
    controller: 'tenantratelimit',
    body: (name) => ({ spec: { tenant: name, requestsPerMinute: 600, burst: 10 } }),
  },
};

const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Ready=True at the object's current generation: what the bench waits for. */
function isReady(o: {
  metadata?: { name?: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}): boolean {
  return (
    o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
    (o.status.observedGeneration ?? o.metadata?.generation) === o.metadata?.generation
  );
}

/** Runs `fn` over 0..n-1 on `concurrency` parallel lanes. */
async function lanes(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main(): Promise<void> {
  const cacheDir = path.join(repoRoot, 'node_modules/.cache/novapos-bench');
  const bundle = path.join(cacheDir, 'operator-entry.mjs');
  // Bundled as the image bundles it (scripts/build-app.mjs): every package inside, one file.
  await build({
    entryPoints: [path.join(repoRoot, 'bench/operator-entry.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    sourcemap: 'linked',
    sourcesContent: false,
    external: ['bufferutil', 'utf-8-validate', 'pg-native', 'cloudflare:sockets'],
    banner: {
      js: "import { createRequire as __novaposRequire } from 'node:module'; const require = __novaposRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });

  const env = await startEnv({
    label: 'bench',
    redis: true,
    kube: { crdDirs: [widgetCrdDir, path.join(repoRoot, 'crds')] },
  });
  const children = new Set<ChildProcess>();
  // Ctrl-C or `kill` of the bench: its operators go with it (the harness stops its own processes).
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      for (const c of children) c.kill('SIGKILL');
    });
  const closers: (() => Promise<void>)[] = [];
  try {
    const k = env.kube as NonNullable<typeof env.kube>;
    const redisUrl = env.redis?.url as string;
    // The bare client pools its connections as the operator's client does (client-node alone opens a new
    // TLS connection per request: see ThrottleAwareKubeConfig); the admin user is exempt from the limits.
    const kc = new ThrottleAwareKubeConfig();
    kc.loadFromFile(k.kubeconfig);
    const objects = kc.makeApiClient(CustomObjectsApi);
    const eventsApi = kc.makeApiClient(EventsV1Api);
    const profileDir = path.join(repoRoot, 'bench/results/profile');

    // A gateway replica for TenantRateLimits: the gateway's ConfigStore heartbeats and acknowledges.
    const gateway = await startAckReplica(redisUrl, 'bench-gateway-0');
    closers.push(() => gateway.stop());

    /**
     * Where the machine's CPU went in a phase: seconds per process (the apiserver, etcd, Redis, the operator
     * when one runs, and this process: the bare client, the Ready watch and the gateway replica's
     * ConfigStore) and their sum as a share of all cores over the phase's wall time. A share near 1 means the
     * phase was bound by the cores, and the split says whose work filled them.
     */
    const cpuMeter = (operatorPid?: () => number | undefined) => {
      const procs = {
        apiserver: () => processCpuSeconds(k.apiserver.pid),
        etcd: () => processCpuSeconds(k.etcd.pid),
        redis: () => processCpuSeconds(env.redis?.process.pid),
        operator: () => processCpuSeconds(operatorPid?.()),
        bench: () => {
          const u = process.cpuUsage();
          return (u.user + u.system) / 1e6;
        },
      };
      const read = () => Object.fromEntries(Object.entries(procs).map(([name, f]) => [name, f()]));
      const start = read();
      const t0 = performance.now();
      return () => {
        const end = read();
        const wallSeconds = (performance.now() - t0) / 1000;
        const seconds = Object.fromEntries(
          Object.entries(end).map(([name, v]) => [name, round(v - (start[name] ?? 0), 1)]),
        );
        const total = Object.values(seconds).reduce((a, b) => a + b, 0);
        return { seconds, busyShare: round(total / (wallSeconds * os.cpus().length)) };
      };
    };
    const describeCpu = (c: { seconds: Record<string, number>; busyShare: number }) =>
      `CPU ${Object.entries(c.seconds)
        .filter(([, v]) => v > 0)
        .map(([name, v]) => `${name} ${v} s`)
        .join(', ')}; cores ${Math.round(c.busyShare * 100)} % busy`;

    /** apiserver_request_total summed by "VERB resource[/subresource]" for the bench's kinds and Events. */
    const requestCounts = async (): Promise<Record<string, number>> => {
      const text = await apiserverGet(k.server, k.caCert, k.adminToken, '/metrics');
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        if (!line.startsWith('apiserver_request_total{')) continue;
        const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
        if (!['widgets', 'tenantratelimits', 'events'].includes(resource)) continue;
        const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '';
        const sub = /subresource="([^"]*)"/.exec(line)?.[1];
        const key = `${verb} ${resource}${sub ? `/${sub}` : ''}`;
        out[key] = (out[key] ?? 0) + Number(line.split(' ').pop());
      }
      return out;
    };
    const diff = (a: Record<string, number>, b: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(b)
          .map(([key, v]) => [key, v - (a[key] ?? 0)] as const)
          .filter(([, v]) => v > 0)
          .sort(),
      );
    const writesIn = (d: Record<string, number>, plural: string) =>
      Object.entries(d)
        .filter(([key]) => /^(POST|PUT|PATCH|DELETE|APPLY)\s/.test(key))
        .filter(([key]) => key.includes(` ${plural}`) || key.includes(' events'))
        .reduce((s, [, v]) => s + v, 0);

    const createAll = async (def: KindDef, ns: string, n: number, prefix: string) => {
      await lanes(n, 16, async (i) => {
        const name = `${prefix}-${String(i).padStart(5, '0')}`;
        await objects.createNamespacedCustomObject({
          group: def.group,
          version: def.version,
          namespace: ns,
          plural: def.plural,
          body: {
            apiVersion: `${def.group}/${def.version}`,
            kind: def.kind,
            metadata: { name, namespace: ns },
            ...def.body(name, i),
          },
        });
      });
    };

    /** The bare client: per object a finalizer patch, a status patch and an Event, on `c` lanes. */
    const bareWrites = async (def: KindDef, ns: string, names: string[], c: number) => {
      const t0 = performance.now();
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await lanes(names.length, c, async (i) => {
        const name = names[i] as string;
        const base = { group: def.group, version: def.version, namespace: ns, plural: def.plural, name };
        const obj = (await objects.patchNamespacedCustomObject(
          { ...base, body: { metadata: { finalizers: [`bench.novapos.io/c${c}`] } } },
          mergePatch,
        )) as KubernetesObject;
        await objects.patchNamespacedCustomObjectStatus(
          {
            ...base,
            body: {
              status: {
                observedGeneration: 1,
                conditions: [
                  {
                    type: 'Ready',
                    status: 'True',
                    observedGeneration: 1,
                    lastTransitionTime: now,
                    reason: 'Bench',
                    message: `bare client at concurrency ${c}`,
                  },
                ],
              },
            },
          },
          mergePatch,
        );
        await eventsApi.createNamespacedEvent({
          namespace: ns,
          body: {
            apiVersion: 'events.k8s.io/v1',
            kind: 'Event',
            metadata: { name: `${name}.c${c}`, namespace: ns },
            eventTime: microTime(Date.now()) as unknown as Date,
            reportingController: 'bench.novapos.io/bare',
            reportingInstance: 'bench',
            action: 'Reconcile',
            reason: 'Ready',
            type: 'Normal',
            note: 'bare client',
            regarding: {
              apiVersion: `${def.group}/${def.version}`,
              kind: def.kind,
              name,
              namespace: ns,
              uid: obj.metadata?.uid,
            },
          },
        });
      });
      return performance.now() - t0;
    };

    /** Names of the objects of `ns` that are Ready at their generation, kept by a watch. */
    const readyTracker = async (def: KindDef, ns: string) => {
      const ready = new Set<string>();
      // client-node's Watch ends a stream that was quiet for 30 s: list and watch again until stopped.
      let stopped = false;
      let current: AbortController | undefined;
      const follow = async (): Promise<void> => {
        while (!stopped) {
          try {
            const list = (await objects.listNamespacedCustomObject({
              group: def.group,
              version: def.version,
              namespace: ns,
              plural: def.plural,
            })) as { items: KubernetesObject[]; metadata: { resourceVersion: string } };
            ready.clear();
            for (const o of list.items) if (isReady(o as never)) ready.add(o.metadata?.name as string);
            await new Promise<void>((resolve) => {
              new Watch(kc)
                .watch(
                  `/apis/${def.group}/${def.version}/namespaces/${ns}/${def.plural}`,
                  {
                    resourceVersion: list.metadata.resourceVersion,
                    allowWatchBookmarks: true,
                    timeoutSeconds: 600,
                  },
                  (type, o: KubernetesObject) => {
                    const name = o.metadata?.name as string;
                    if (type === 'BOOKMARK') return;
                    if (type !== 'DELETED' && isReady(o as never)) ready.add(name);
                    else ready.delete(name);
                  },
                  () => resolve(),
                )
                .then(
                  (c) => {
                    current = c;
                    if (stopped) c.abort();
                  },
                  () => resolve(),
                );
            });
          } catch {
            await sleep(1_000);
          }
        }
      };
      void follow();
      const w = {
        abort: () => {
          stopped = true;
          current?.abort();
        },
      };
      return {
        ready,
        async until(n: number, timeoutMs: number): Promise<number | undefined> {
          const end = Date.now() + timeoutMs;
          while (ready.size < n) {
            if (Date.now() > end) return undefined;
            await sleep(50);
          }
          return performance.now();
        },
        stop: () => w.abort(),
      };
    };

    /**
     * The cold start's end without a watch (`--ready-by events`), to check what the bench's own Ready watch
     * costs on the shared cores (the ceiling's bare client has none): the bench polls the operator's reconcile
     * counter once a second (its /metrics), confirms with one list that all N are Ready at their generation,
     * and takes the moment the last one became Ready from the objects' Events: the operator records one per
     * object right after the status write that made it Ready (events.k8s.io/v1 `eventTime`, microseconds), so
     * the figure is a Ready time plus at most one request. Returns that moment on performance.now()'s clock.
     * Measured: 1.61x against 1.63-1.68x with the watch (bench/README.md): the watch is not what costs.
     */
    const readyByEvents = async (
      def: KindDef,
      ns: string,
      op: Operator,
      n: number,
      timeoutMs: number,
    ): Promise<{ at: number; ready: number } | undefined> => {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        await sleep(1_000);
        if ((await reconciles(op, def.controller)) < n) continue;
        const list = (await objects.listNamespacedCustomObject({
          group: def.group,
          version: def.version,
          namespace: ns,
          plural: def.plural,
        })) as { items: Parameters<typeof isReady>[0][] };
        const ready = list.items.filter(isReady).length;
        if (ready < n) continue;
        const events = await eventsApi.listNamespacedEvent({ namespace: ns });
        let last = 0;
        for (const e of events.items) {
          if (e.regarding?.kind !== def.kind) continue;
          const at = new Date(e.series?.lastObservedTime ?? e.eventTime ?? 0).getTime();
          if (at > last) last = at;
        }
        if (last === 0) throw new Error(`no Event of the operator about the ${def.kind}s in ${ns}`);
        return { at: last - performance.timeOrigin, ready };
      }
      return undefined;
    };

    interface Operator {
      child: ChildProcess;
      pid: number;
      metricsUrl: string;
      spawnedAt: number;
      startedAt: number;
      stop(): Promise<void>;
    }
    // The operator applies a TenantRateLimit only in the namespace its configuration names as the tenant's
    // owner (tenantOwners, issue 19): each watched namespace owns the tenants its objects are named after
    // (`c-00001` in cold-*, `h-00001` in hot-*: the first letter of the namespace).
    const ownersFile = (namespaces: readonly string[]) => {
      const file = path.join(os.tmpdir(), `novapos-bench-owners-${process.pid}-${namespaces.join('_')}.json`);
      const tenantOwners = namespaces.map((ns) => ({ namespace: ns, tenants: [`${ns[0]}-*`] }));
      writeFileSync(file, JSON.stringify({ tenantOwners }));
      closers.push(async () => rmSync(file, { force: true }));
      return file;
    };
    const startOperator = async (
      kind: KindName,
      namespaces: string[],
      opts: { noControllers?: boolean; nodeFlags?: string[] } = {},
    ): Promise<Operator> => {
      const spawnedAt = performance.now();
      const child = spawn(
        process.execPath,
        ['--expose-gc', ...operatorNodeFlags, ...(opts.nodeFlags ?? []), bundle],
        {
          cwd: repoRoot,
          env: {
            ...process.env,
            KUBECONFIG: k.kubeconfig,
            OPERATOR_LEADER_ELECT: 'false',
            OPERATOR_WATCH_NAMESPACES: namespaces.join(','),
            OPERATOR_METRICS_PORT: '0',
            OPERATOR_PROBES_PORT: '0',
            OPERATOR_BIND_ADDRESS: '127.0.0.1',
            LOG_LEVEL: 'info',
            ...(kind === 'tenantratelimit' && !opts.noControllers ? { REDIS_URL: redisUrl } : {}),
            NOVAPOS_BENCH_CONTROLLERS: opts.noControllers ? 'none' : kind === 'widget' ? 'widget' : '',
            VAULT_ADDR: '',
            OPERATOR_CONNECTIONS_FILE: ownersFile(namespaces),
            NODE_OPTIONS: chartNodeOptions,
            ...operatorEnv,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.add(child);
      let out = '';
      let metricsUrl: string | undefined;
      let startedAt = 0;
      const onData = (d: Buffer) => {
        out += d.toString();
        if (!metricsUrl) {
          const line = out.split('\n').find((l) => l.includes('"manager started"'));
          const m = line && /"metrics":"([^"]+)"/.exec(line);
          if (m) {
            metricsUrl = m[1];
            startedAt = performance.now();
          }
        }
        if (out.length > 200_000) out = out.slice(-50_000);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
      await waitUntil('operator metrics server', () => metricsUrl, {
        timeoutMs: 120_000,
        intervalMs: 20,
      }).catch((err: unknown) => {
        child.kill('SIGKILL');
        throw new Error(`${describeError(err)}; operator output: ${out.slice(-2_000)}`);
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      return {
        child,
        pid: child.pid as number,
        metricsUrl: metricsUrl as string,
        spawnedAt,
        startedAt,
        async stop() {
          child.kill('SIGTERM');
          await Promise.race([exited, sleep(60_000)]);
          // An operator that did not stop in a minute (a loaded machine, a profile being written) is killed,
          // never left behind.
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGKILL');
            await Promise.race([exited, sleep(5_000)]);
          }
          children.delete(child);
        },
      };
    };
    /** After a full GC in the operator (SIGWINCH, see operator-entry.ts): live heap, and RSS. */
    const memory = async (op: Operator) => {
      op.child.kill('SIGWINCH');
      await sleep(1_500);
      const heapUsed = await metricValue(op.metricsUrl, 'nodejs_heap_size_used_bytes');
      const heapTotal = await metricValue(op.metricsUrl, 'nodejs_heap_size_total_bytes');
      const external = await metricValue(op.metricsUrl, 'nodejs_external_memory_bytes');
      const space = (name: string) =>
        metricValue(op.metricsUrl, 'nodejs_heap_space_size_total_bytes', { space: name });
      return {
        rssMiB: mib(rssBytes(op.pid)),
        heapUsedMiB: mib(heapUsed),
        heapTotalMiB: mib(heapTotal),
        newSpaceMiB: mib(await space('new')),
        oldSpaceMiB: mib(await space('old')),
        externalMiB: mib(external),
      };
    };
    const reconciles = (op: Operator, controller: string) =>
      metricValue(op.metricsUrl, 'controller_runtime_reconcile_total', { controller });
    /** The mean reconcile time so far, and what the operator's workers could do at that time each. */
    const reconcileTime = async (op: Operator, controller: string) => {
      const sum = await metricValue(op.metricsUrl, 'controller_runtime_reconcile_time_seconds_sum', {
        controller,
      });
      const count = await metricValue(op.metricsUrl, 'controller_runtime_reconcile_time_seconds_count', {
        controller,
      });
      const meanSeconds = count > 0 ? sum / count : Number.NaN;
      return {
        meanMs: round(meanSeconds * 1000, 1),
        workerBoundPerSecond: Math.round(OPERATOR_WORKERS / meanSeconds),
      };
    };

    // Runs add to the results file: one invocation per kind and N is how a long run is split on a busy machine.
    const file = path.join(repoRoot, arg('out') ?? 'bench/results/operator-scale.json');
    const previous = (() => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')).results as Record<string, Record<string, unknown>>;
      } catch {
        return {};
      }
    })();
    const results: Record<string, Record<string, unknown>> = previous ?? {};
    const record = () => {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(
        file,
        `${JSON.stringify(
          {
            date: new Date().toISOString(),
            command: `npx tsx bench/operator-scale.ts ${process.argv.slice(2).join(' ')}`.trim(),
            operatorNodeFlags,
            chartNodeOptions,
            operatorEnv,
            machine: {
              cpus: os.cpus().length,
              node: process.version,
              loadavg: os.loadavg().map((l) => round(l)),
            },
            apiserver: 'kube-apiserver v1.36.3 + etcd v3.6.8 on loopback (test harness), APF off',
            results,
          },
          null,
          2,
        )}\n`,
      );
    };

    let bestLevel: number | undefined;
    for (const kind of kinds) {
      const def = KINDS[kind];
      // Idle: the same bundle with no controllers, then with its controllers and nothing to watch.
      await k.kubectl(['create', 'namespace', `idle-${kind}`]);
      const bare = await startOperator(kind, [`idle-${kind}`], { noControllers: true });
      await sleep(8_000);
      const idleNoControllers = await memory(bare);
      await bare.stop();
      const idleOp = await startOperator(kind, [`idle-${kind}`]);
      await sleep(8_000);
      const idle = await memory(idleOp);
      await idleOp.stop();
      console.log(
        `[${kind}] idle RSS ${idle.rssMiB} MiB (heap ${idle.heapUsedMiB}), same bundle without controllers ${idleNoControllers.rssMiB} MiB (heap ${idleNoControllers.heapUsedMiB}): ${round(idle.rssMiB / idleNoControllers.rssMiB)}x`,
      );
      const kindResults: Record<string, unknown> = {
        ...(results[kind] ?? {}),
        idle: {
          withControllers: idle,
          noControllers: idleNoControllers,
          ratio: round(idle.rssMiB / idleNoControllers.rssMiB),
        },
      };
      results[kind] = kindResults;

      for (const n of sizes) {
        const isLargest = n === Math.max(...sizes) && kind === kinds[kinds.length - 1];
        if (left() < 5 * 60_000) {
          console.log(`[${kind} N=${n}] skipped: the time budget (--budget-min) is spent`);
          kindResults[`n${n}`] = { skipped: 'time budget spent' };
          continue;
        }
        const tag = `${kind.slice(0, 3)}-${n}`;
        // Filled phase by phase and written after each, so a run cut short by its budget keeps what it measured.
        const res: Record<string, unknown> = { date: new Date().toISOString() };
        kindResults[`n${n}`] = res;
        const phaseDone = (name: string, value: unknown) => {
          res[name] = value;
          res.loadavg = os.loadavg().map((l) => round(l));
          record();
        };
        // 1. Ceiling: the bare client, at each concurrency (at a larger N only the best level of the first).
        const baseNs = `base-${tag}`;
        await k.kubectl(['create', 'namespace', baseNs]);
        const sample = Math.min(n, ceilingSample);
        const baseNames = Array.from({ length: sample }, (_, i) => `b-${String(i).padStart(5, '0')}`);
        const tCreate = performance.now();
        await createAll(def, baseNs, sample, 'b');
        const createMs = performance.now() - tCreate;
        const sweep: Record<
          string,
          { ms: number; writesPerSecond: number; cpu: ReturnType<ReturnType<typeof cpuMeter>> }
        > = {};
        const levelsHere = bestLevel && n > firstSize ? [bestLevel] : levels;
        const before0 = await requestCounts();
        for (const c of levelsHere) {
          const meter = cpuMeter();
          const measured = await bareWrites(def, baseNs, baseNames, c);
          const cpu = meter();
          // Time for N objects at the rate measured on `sample` of them.
          const ms = (measured * n) / sample;
          sweep[`c${c}`] = {
            ms: Math.round(ms),
            writesPerSecond: Math.round((3 * sample * 1000) / measured),
            cpu,
          };
          console.log(
            `[${kind} N=${n}] bare client c=${c}: ${3 * sample} writes in ${Math.round(measured)} ms (${sweep[`c${c}`]?.writesPerSecond}/s)${sample < n ? `; ${Math.round(ms)} ms for ${n}` : ''}; ${describeCpu(cpu)}`,
          );
        }
        const baselineRequests = diff(before0, await requestCounts());
        const [bestKey, best] = Object.entries(sweep).sort((a, b) => a[1].ms - b[1].ms)[0] as [
          string,
          { ms: number; writesPerSecond: number; cpu: ReturnType<ReturnType<typeof cpuMeter>> },
        ];
        bestLevel ??= Number(bestKey.slice(1));
        const ceilingMs = best.ms;
        res.createMs = Math.round(createMs);
        phaseDone('ceiling', {
          ms: ceilingMs,
          concurrency: bestKey,
          writesPerSecond: best.writesPerSecond,
          cpu: best.cpu,
          sweep,
          requests: baselineRequests,
        });

        // 2. Cold start: N objects exist, then the operator starts.
        const coldNs = `cold-${tag}`;
        const hotNs = `hot-${tag}`;
        await k.kubectl(['create', 'namespace', coldNs]);
        await k.kubectl(['create', 'namespace', hotNs]);
        await createAll(def, coldNs, n, 'c');
        const coldTracker = readyBy === 'watch' ? await readyTracker(def, coldNs) : undefined;
        const c0 = await requestCounts();
        const nodeFlags =
          profile && isLargest
            ? [
                `--cpu-prof`,
                `--cpu-prof-dir=${profileDir}`,
                '--heapsnapshot-signal=SIGUSR2',
                `--diagnostic-dir=${profileDir}`,
              ]
            : [];
        if (nodeFlags.length) {
          rmSync(profileDir, { recursive: true, force: true });
          mkdirSync(profileDir, { recursive: true });
        }
        let coldPid: number | undefined;
        const coldMeter = cpuMeter(() => coldPid);
        const op = await startOperator(kind, [coldNs, hotNs], { nodeFlags });
        coldPid = op.pid;
        const timeoutMs = Math.max(120_000, Math.min(left() - 60_000, n * 200));
        let coldDone: number | undefined;
        let coldReady = 0;
        if (coldTracker) {
          coldDone = await coldTracker.until(n, timeoutMs);
          coldReady = coldTracker.ready.size;
          coldTracker.stop();
        } else {
          const seen = await readyByEvents(def, coldNs, op, n, timeoutMs);
          coldDone = seen?.at;
          coldReady = seen?.ready ?? 0;
        }
        // With --ready-by events the window runs to the poll that saw the end (up to a second and a list
        // later), so the busy share is a little low; the CPU seconds are the phase's.
        const coldCpu = coldMeter();
        const reconcileSeconds = await reconcileTime(op, def.controller);
        const coldReconciles = await reconciles(op, def.controller);
        const coldRequests = diff(c0, await requestCounts());
        const coldMs = coldDone === undefined ? undefined : coldDone - op.spawnedAt;
        const coldFromStartMs = coldDone === undefined ? undefined : coldDone - op.startedAt;
        await sleep(5_000);
        const coldMem = await memory(op);
        const cold = {
          ms: coldMs && Math.round(coldMs),
          fromManagerStartedMs: coldFromStartMs && Math.round(coldFromStartMs),
          ready: coldReady,
          readyBy,
          ratioToCeiling: coldMs && round(coldMs / ceilingMs),
          requests: coldRequests,
          writesPerObject: round(writesIn(coldRequests, def.plural) / n),
          reconciles: coldReconciles,
          reconcilesPerSecond: coldMs && Math.round((coldReconciles / coldMs) * 1000),
          // Mean time of one reconcile, and the rate the workers could reach at that time each: far above
          // the measured rate, the workers were not the bound.
          reconcileMeanMs: reconcileSeconds.meanMs,
          workerBoundPerSecond: reconcileSeconds.workerBoundPerSecond,
          cpu: coldCpu,
          memory: coldMem,
          growthPer1000: {
            rssMiB: round((coldMem.rssMiB - idle.rssMiB) / (n / 1000)),
            heapUsedMiB: round((coldMem.heapUsedMiB - idle.heapUsedMiB) / (n / 1000)),
          },
        };
        phaseDone('cold', cold);
        console.log(
          `[${kind} N=${n}] cold start: ${cold.ready}/${n} Ready in ${cold.ms} ms (${cold.fromManagerStartedMs} ms after "manager started"), ceiling ${ceilingMs} ms: ${cold.ratioToCeiling}x; ${cold.writesPerObject} writes/object; ${coldReconciles} reconciles, ${cold.reconcileMeanMs} ms each (${cold.workerBoundPerSecond}/s for the workers); ${describeCpu(coldCpu)}; RSS ${coldMem.rssMiB} MiB, heap ${coldMem.heapUsedMiB} MiB`,
        );

        if (nodeFlags.length) {
          // A heap snapshot (forces a full GC first), after the cold start; the CPU profile is written at exit.
          op.child.kill('SIGUSR2');
          await waitUntil(
            'heap snapshot written',
            () => {
              const f = readdirSync(profileDir).find((x) => x.endsWith('.heapsnapshot'));
              if (!f) return undefined;
              const size = statSync(path.join(profileDir, f)).size;
              if (size > 0 && size === lastSize) return f;
              lastSize = size;
              return undefined;
            },
            { timeoutMs: 300_000, intervalMs: 2_000 },
          );
        }
        // 4. Hot: N more objects created while the operator runs (skipped when the budget cannot hold it).
        let total = n;
        if (left() < 6 * 60_000) {
          phaseDone('hot', { skipped: 'time budget spent' });
          console.log(`[${kind} N=${n}] hot: skipped, the time budget is spent`);
        } else {
          total = 2 * n;
          const hotTracker = await readyTracker(def, hotNs);
          const h0 = await requestCounts();
          const hr0 = await reconciles(op, def.controller);
          const tHot = performance.now();
          await createAll(def, hotNs, n, 'h');
          const hotCreateMs = performance.now() - tHot;
          const hotDone = await hotTracker.until(n, Math.max(120_000, Math.min(left() - 60_000, n * 200)));
          hotTracker.stop();
          const hotRequests = diff(h0, await requestCounts());
          const hotReconciles = (await reconciles(op, def.controller)) - hr0;
          await sleep(5_000);
          const hotMem = await memory(op);
          const hotMs = hotDone === undefined ? undefined : hotDone - tHot;
          const hot = {
            ms: hotMs && Math.round(hotMs),
            createsMs: Math.round(hotCreateMs),
            ready: hotTracker.ready.size,
            requests: hotRequests,
            writesPerObject: round((writesIn(hotRequests, def.plural) - n) / n),
            reconciles: hotReconciles,
            reconcilesPerSecond: hotMs && Math.round((hotReconciles / hotMs) * 1000),
            memory: hotMem,
            growthPer1000: {
              rssMiB: round((hotMem.rssMiB - idle.rssMiB) / ((2 * n) / 1000)),
              heapUsedMiB: round((hotMem.heapUsedMiB - idle.heapUsedMiB) / ((2 * n) / 1000)),
            },
          };
          phaseDone('hot', hot);
          console.log(
            `[${kind} N=${n}] hot: ${hot.ready}/${n} Ready ${hot.ms} ms after the first create (creates took ${hot.createsMs} ms); ${hot.writesPerObject} writes/object besides the create; RSS ${hotMem.rssMiB} MiB, heap ${hotMem.heapUsedMiB} MiB with ${2 * n} objects`,
          );
        }

        await op.stop();
        if (nodeFlags.length) res.profile = path.relative(repoRoot, profileDir);

        // 5. Steady state: a new operator over the 2N Ready objects reconciles each once (as a resync would)
        //    and writes nothing.
        if (left() > 3 * 60_000) {
          const s0 = await requestCounts();
          const again = await startOperator(kind, [coldNs, hotNs]);
          await waitUntil(
            'every Ready object reconciled again',
            async () => (await reconciles(again, def.controller)) >= total || undefined,
            { timeoutMs: Math.max(60_000, Math.min(left() - 60_000, n * 100)), intervalMs: 1_000 },
          ).catch(() => undefined);
          await sleep(3_000);
          const steadyReconciles = await reconciles(again, def.controller);
          const steadyRequests = diff(s0, await requestCounts());
          const steady = {
            objects: total,
            reconciles: steadyReconciles,
            writes: writesIn(steadyRequests, def.plural),
            requests: steadyRequests,
          };
          await again.stop();
          phaseDone('steady', steady);
          console.log(
            `[${kind} N=${n}] steady state: a restarted operator reconciled ${steady.reconciles} of ${total} Ready objects and wrote ${steady.writes} times`,
          );
        }
        record();
        // The namespaces' objects stay (finalizers); the next N uses new namespaces.
      }
    }
    record();
    console.log(`wrote ${path.relative(repoRoot, file)}`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const close of closers) await close().catch(() => {});
    await env.stop();
  }
}
let lastSize = -1;

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
