import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { localAlertmanagerConfig } from '../../alerts/alertmanager/local.js';
import { type AlertmanagerInstance, startAlertmanager } from './components/alertmanager.js';
import { type KubeInstance, type KubeOptions, startKube } from './components/kube.js';
import { type PostgresInstance, startPostgres } from './components/postgres.js';
import { type PrometheusInstance, type PrometheusOptions, startPrometheus } from './components/prometheus.js';
import { type RedisInstance, startRedis } from './components/redis.js';
import { type Sink, startSink } from './components/sinks.js';
import { startVault, type VaultInstance } from './components/vault.js';
import { type ManagedProcess, makeRunDir, removeRunDir } from './process.js';
import { ensureSystemPackages } from './system.js';

/**
 * The shared Alertmanager routes with the project's own configuration (alerts/alertmanager/), the one source
 * of routing: critical alerts page the PagerDuty sink with the harness's routing key, warnings go to the
 * team's Slack channel, drill alerts to a path of the PagerDuty sink (no operator listens in the shared
 * environment).
 */
export function harnessAlertmanagerConfig(dir: string) {
  const secrets = path.join(dir, 'alertmanager-secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  return (sinks: { pagerduty: string; slack: string }) =>
    localAlertmanagerConfig(secrets, HARNESS_ROUTING_KEY, { url: `${sinks.pagerduty}/drill-webhook` })(sinks);
}

/** The PagerDuty routing key the shared Alertmanager sends. */
export const HARNESS_ROUTING_KEY = 'harness-routing-key';

export interface EnvOptions {
  readonly redis?: boolean;
  readonly postgres?: boolean;
  /** Prometheus; wired to Alertmanager when that is started too. */
  readonly prometheus?: boolean | PrometheusOptions;
  /** Alertmanager alone; starts the PagerDuty and Slack sinks it delivers to. `config(sinks)` overrides routing. */
  readonly alertmanager?:
    | boolean
    | { config?: (sinks: { pagerduty: string; slack: string }) => Record<string, unknown> };
  /** PagerDuty Events v2 and Slack webhook sinks without Alertmanager. */
  readonly sinks?: boolean;
  readonly kube?: boolean | KubeOptions;
  /** OpenBao servers; a number starts that many (promotion tests: two environments). */
  readonly vault?: boolean | number;
  /** Part of the run directory's name. */
  readonly label?: string;
  /** Keep the run directory (logs, data) after stop. */
  readonly keepDir?: boolean;
}

/** What a test worker needs to reach a shared environment: plain data, passed through vitest's provide/inject. */
export interface EnvDescriptor {
  readonly dir: string;
  readonly redisUrl?: string;
  readonly postgresUrl?: string;
  readonly prometheusUrl?: string;
  readonly alertmanagerUrl?: string;
  readonly pagerdutyUrl?: string;
  readonly slackUrl?: string;
  readonly kube?: {
    readonly server: string;
    readonly kubeconfig: string;
    readonly adminToken: string;
    readonly caCert: string;
    readonly kubectlPath: string;
    readonly etcdUrl: string;
    readonly users: readonly { name: string; token: string; groups: readonly string[] }[];
  };
  readonly vaults: readonly { readonly addr: string; readonly rootToken: string }[];
  /** Component name → log file. */
  readonly logFiles: Readonly<Record<string, string>>;
}

export interface Env {
  readonly dir: string;
  readonly redis?: RedisInstance;
  readonly postgres?: PostgresInstance;
  readonly prometheus?: PrometheusInstance;
  readonly alertmanager?: AlertmanagerInstance;
  readonly pagerduty?: Sink;
  readonly slack?: Sink;
  readonly kube?: KubeInstance;
  /** The first OpenBao server. */
  readonly vault?: VaultInstance;
  readonly vaults: readonly VaultInstance[];
  describe(): EnvDescriptor;
  /** The last lines each component logged, for a failing test's output. */
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

function processes(env: Omit<Env, 'describe' | 'logTails' | 'stop'>): ManagedProcess[] {
  return [
    env.redis?.process,
    env.postgres?.process,
    env.prometheus?.process,
    env.alertmanager?.process,
    env.kube?.apiserver,
    env.kube?.etcd,
    ...env.vaults.map((v) => v.process),
  ].filter((p): p is ManagedProcess => p !== undefined);
}

/**
 * Starts the requested real components on loopback, on free ports, in a fresh temporary directory.
 * Everything started is stopped by `stop()`, when this process exits, and (through the parent-death
 * signal) when this process is killed.
 */
export async function startEnv(opts: EnvOptions): Promise<Env> {
  ensureSystemPackages({
    redis: !!opts.redis,
    postgres: !!opts.postgres,
    prometheus: !!opts.prometheus,
    alertmanager: !!opts.alertmanager,
  });
  const dir = makeRunDir(opts.label ?? 'env');
  const started: { stop(): Promise<void> }[] = [];
  const track = <T extends { stop(): Promise<void> } | undefined>(x: T): T => {
    if (x) started.push(x);
    return x;
  };
  const asStoppable = (p: { process: ManagedProcess } | undefined) =>
    p ? { stop: () => p.process.stop() } : undefined;
  try {
    const wantSinks = !!opts.sinks || !!opts.alertmanager;
    const pagerduty = wantSinks ? track(await startSink('pagerduty')) : undefined;
    const slack = wantSinks ? track(await startSink('slack')) : undefined;

    const alertmanagerOpts = typeof opts.alertmanager === 'object' ? opts.alertmanager : {};
    const alertmanagerPromise = opts.alertmanager
      ? startAlertmanager(
          dir,
          alertmanagerOpts.config
            ? alertmanagerOpts.config({ pagerduty: pagerduty!.url, slack: slack!.url })
            : harnessAlertmanagerConfig(dir)({ pagerduty: pagerduty!.url, slack: slack!.url }),
        )
      : undefined;
    const vaultCount = typeof opts.vault === 'number' ? opts.vault : opts.vault ? 1 : 0;
    const [redis, postgres, kube, alertmanager, ...vaults] = await Promise.all([
      opts.redis ? startRedis(dir) : undefined,
      opts.postgres ? startPostgres(dir) : undefined,
      opts.kube ? startKube(dir, typeof opts.kube === 'object' ? opts.kube : {}) : undefined,
      alertmanagerPromise,
      ...Array.from({ length: vaultCount }, (_, i) =>
        startVault(dir, i === 0 ? 'openbao' : `openbao-${i + 1}`),
      ),
    ]);
    track(asStoppable(redis));
    track(asStoppable(postgres));
    track(kube);
    track(asStoppable(alertmanager));
    for (const v of vaults) track(v);
    const promOpts: PrometheusOptions = typeof opts.prometheus === 'object' ? opts.prometheus : {};
    const prometheus = opts.prometheus
      ? await startPrometheus(dir, {
          ...promOpts,
          alertmanagers: promOpts.alertmanagers ?? (alertmanager ? [alertmanager.url] : []),
        })
      : undefined;
    track(asStoppable(prometheus));

    const parts = {
      dir,
      redis,
      postgres,
      prometheus,
      alertmanager,
      pagerduty,
      slack,
      kube,
      vault: vaults[0],
      vaults: vaults as VaultInstance[],
    };
    let stopped = false;
    return {
      ...parts,
      describe(): EnvDescriptor {
        return {
          dir,
          redisUrl: redis?.url,
          postgresUrl: postgres?.url,
          prometheusUrl: prometheus?.url,
          alertmanagerUrl: alertmanager?.url,
          pagerdutyUrl: pagerduty?.url,
          slackUrl: slack?.url,
          kube: kube && {
            server: kube.server,
            kubeconfig: kube.kubeconfig,
            adminToken: kube.adminToken,
            caCert: kube.caCert,
            kubectlPath: kube.kubectlPath,
            etcdUrl: kube.etcdUrl,
            users: kube.users,
          },
          vaults: parts.vaults.map((v) => ({ addr: v.addr, rootToken: v.rootToken })),
          logFiles: Object.fromEntries(processes(parts).map((p) => [p.name, p.logFile])),
        };
      },
      logTails(lines = 30) {
        return processes(parts)
          .map((p) => `--- ${p.name} (${p.logFile}) ---\n${p.logTail(lines)}`)
          .join('\n');
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all(started.reverse().map((s) => s.stop().catch(() => {})));
        if (!opts.keepDir) removeRunDir(dir);
      },
    };
  } catch (err) {
    await Promise.all(started.reverse().map((s) => s.stop().catch(() => {})));
    throw err;
  }
}

/**
 * The shared Redis seen through a logical database of the suite's own (1–15; 0 is the shared one): keys are apart
 * (tenant limits, gateway replicas, the per-address authentication budgets attack suites spend from 127.0.0.1);
 * pub/sub channels are not, which the contracts' notifications tolerate (a gateway re-reads keys in its own database).
 * Taken (one suite each, so files running side by side never share one): 1 the full drill's stale verifier
 * (test/drills/full-drill.int.test.ts), 4 partner webhooks, 6 stale replica,
 * 7 gateway fuzz, 8 TenantRateLimit writes, 9 the drill killed mid-run (test/drills/restart.int.test.ts),
 * 10 the drill environments (test/drills/full-drill-environment.ts),
 * 11 operator process, 12 session revocation, 13 gateway edge, 14 gateway proxy, 15 the plugin's live usage
 * (test/cli/live.int.test.ts).
 */
export function privateRedisDb(sharedUrl: string | undefined, db: number): string {
  if (!Number.isInteger(db) || db < 1 || db > 15) throw new Error(`Redis logical database ${db}: use 1-15`);
  const url = new URL(sharedUrl ?? 'redis://127.0.0.1:6379');
  url.pathname = `/${db}`;
  return url.toString();
}
