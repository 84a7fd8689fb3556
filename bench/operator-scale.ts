// Operator runtime at scale: `npx tsx bench/operator-scale.ts` (`--max 1000` for a shorter run, `--qps 500` to
// lift the reconcile rate limit; results then go to operator-scale-qps500.json).
// Starts a private kube-apiserver, runs the real operator entry point (operator/src/main.ts bundled with
// esbuild, as the container image runs it) with the test-only Widget controller as a child process, and
// measures: time for 1,000 created Widgets to all be Ready, reconciles per second, and the operator's RSS
// with 1,000 and 10,000 Ready objects in its cache. Figures go to stdout and bench/results/operator-scale.json.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { build } from 'esbuild';
import { startEnv } from '../test/harness/env.js';
import { waitUntil } from '../test/harness/wait.js';
import { metricValue, widgetCrdDir } from '../test/runtime/support.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const maxArg = process.argv.indexOf('--max');
const max = maxArg > 0 ? Number(process.argv[maxArg + 1]) : 10_000;
const qpsArg = process.argv.indexOf('--qps');
// The operator's reconcile rate limit; 50/s is the shipped default (OPERATOR_RECONCILE_QPS).
const qps = qpsArg > 0 ? Number(process.argv[qpsArg + 1]) : 50;
const resultFile = `bench/results/operator-scale${qpsArg > 0 ? `-qps${qps}` : ''}.json`;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;

async function main(): Promise<void> {
  const bundle = path.join(repoRoot, 'node_modules/.cache/novapos-bench/widget-operator.mjs');
  await build({
    entryPoints: [path.join(repoRoot, 'test/runtime/widget-operator.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    packages: 'external',
    outfile: bundle,
    logLevel: 'warning',
  });

  const env = await startEnv({ label: 'bench', kube: { crdDirs: [widgetCrdDir] } });
  let operator: ChildProcess | undefined;
  try {
    const k = env.kube as NonNullable<typeof env.kube>;
    const kc = new KubeConfig();
    kc.loadFromFile(k.kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const ns = 'bench';
    await k.kubectl(['create', 'namespace', ns]);

    let metricsUrl: string | undefined;
    operator = spawn(process.execPath, [bundle], {
      cwd: repoRoot,
      env: {
        ...process.env,
        KUBECONFIG: k.kubeconfig,
        OPERATOR_LEADER_ELECT: 'false',
        OPERATOR_WATCH_NAMESPACES: ns,
        OPERATOR_METRICS_PORT: '0',
        OPERATOR_PROBES_PORT: '0',
        OPERATOR_BIND_ADDRESS: '127.0.0.1',
        OPERATOR_RECONCILE_QPS: String(qps),
        OPERATOR_RECONCILE_BURST: String(Math.max(100, qps)),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = operator.pid as number;
    let stdout = '';
    operator.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      metricsUrl ??=
        /"msg":"manager started"[^\n]*"metrics":"([^"]+)"|"metrics":"([^"]+)"[^\n]*"msg":"manager started"/
          .exec(stdout)
          ?.slice(1)
          .find(Boolean);
      if (stdout.length > 1_000_000) stdout = stdout.slice(-100_000);
    });
    await waitUntil('operator metrics server', () => metricsUrl, { timeoutMs: 30_000 });
    const idleRss = rssBytes(pid);

    let created = 0;
    const create = async (from: number, to: number) => {
      let next = from;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < to) {
            const name = `w-${String(next++).padStart(5, '0')}`;
            await api.createNamespacedCustomObject({
              group: 'test.novapos.io',
              version: 'v1',
              namespace: ns,
              plural: 'widgets',
              body: {
                apiVersion: 'test.novapos.io/v1',
                kind: 'Widget',
                metadata: { name, namespace: ns },
                spec: { size: 1 },
              },
            });
            created++;
          }
        }),
      );
    };
    const readyCount = async () => {
      let count = 0;
      let cont: string | undefined;
      do {
        const page = (await api.listNamespacedCustomObject({
          group: 'test.novapos.io',
          version: 'v1',
          namespace: ns,
          plural: 'widgets',
          limit: 2000,
          _continue: cont,
        })) as {
          items: {
            metadata: { generation: number };
            status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
          }[];
          metadata: { continue?: string };
        };
        for (const w of page.items) {
          if (
            w.status?.observedGeneration === w.metadata.generation &&
            w.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          )
            count++;
        }
        cont = page.metadata.continue || undefined;
      } while (cont);
      return count;
    };
    const reconciles = () =>
      metricValue(metricsUrl as string, 'controller_runtime_reconcile_total', { controller: 'widget' });

    const phase = async (target: number) => {
      const startedAt = Date.now();
      const reconcilesBefore = await reconciles();
      const creating = create(created, target);
      await creating;
      const createdMs = Date.now() - startedAt;
      await waitUntil(`${target} widgets Ready`, async () => (await readyCount()) >= target || undefined, {
        timeoutMs: 900_000,
        intervalMs: 2_000,
      });
      const readyMs = Date.now() - startedAt;
      const reconcileCount = (await reconciles()) - reconcilesBefore;
      // Let garbage settle before reading RSS.
      await new Promise((r) => setTimeout(r, 3_000));
      return {
        objects: target,
        createdMs,
        readyMs,
        reconciles: reconcileCount,
        reconcilesPerSecond: Math.round((reconcileCount / readyMs) * 1000 * 10) / 10,
        rssMiB: mib(rssBytes(pid)),
      };
    };

    const first = await phase(Math.min(1_000, max));
    console.log(
      `1,000 widgets: all Ready ${first.readyMs} ms after the first create (creates took ${first.createdMs} ms); ${first.reconciles} reconciles, ${first.reconcilesPerSecond}/s; operator RSS ${first.rssMiB} MiB`,
    );
    const second = max > 1_000 ? await phase(max) : undefined;
    if (second) {
      console.log(
        `${max.toLocaleString('en')} widgets: all Ready ${second.readyMs} ms after the first of the next ${max - 1_000} creates; ${second.reconciles} reconciles, ${second.reconcilesPerSecond}/s; operator RSS ${second.rssMiB} MiB`,
      );
    }
    const results = {
      date: new Date().toISOString(),
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
      apiserver: 'kube-apiserver v1.36.3 + etcd v3.6.8 on loopback (test harness)',
      operator: {
        reconcileQps: qps,
        reconcileBurst: Math.max(100, qps),
        maxConcurrentReconciles: 4,
        idleRssMiB: mib(idleRss),
      },
      at1000: first,
      ...(second ? { [`at${max}`]: second } : {}),
    };
    mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
    writeFileSync(path.join(repoRoot, resultFile), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`wrote ${resultFile}`);
  } finally {
    operator?.kill('SIGTERM');
    await env.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
