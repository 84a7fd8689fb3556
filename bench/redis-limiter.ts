// The gateway's Redis limiter alone (issues 17 and 22): `npx tsx bench/redis-limiter.ts` (`--seconds 2`,
// `--rounds 5`). Starts a private Redis and a private 3-master Redis Cluster (each master with a replica,
// test/harness/components/redis-cluster.ts) and measures in one run, as closed loops of 64 callers on one
// ioredis client each (auto-pipelining on, as the gateway runs it):
//   - rate-limiter-flexible's RateLimiterRedis (fixed window, its own Lua script) on the single Redis: the
//     baseline of issue 17's "limiter >= 1.0x rate-limiter-flexible";
//   - the gateway's limiter (RedisLimiter: gcra.lua, the checks made while a call is in flight batched into
//     the next call) with one bucket per check, single Redis;
//   - the same with three buckets per check (tenant + route + API key; reported apart);
//   - the gateway's limiter on the cluster, one bucket per check, 100 tenants spread over the masters, with
//     the share of checks that needed a redirect (MOVED/ASK counted by the masters' `INFO errorstats`
//     during the measurement, after a warm-up);
//   - the script before issue 22 (a hash per bucket: EXISTS, TIME, HMGET, HSET, PEXPIRE; read from git,
//     `--old-script <commit>`, default 98e462d), one bucket per check, single Redis: what the change gained;
//   - the Redis CPU time per check (redis-server's utime + stime from /proc over the measurement): where the
//     difference between the two scripts is.
// The scenarios are interleaved per round (rotated order) and the median of the rounds is reported, because
// the machine is shared. Figures go to stdout and bench/results/redis-limiter.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createRedisClient, masters, parseClusterNodes, type RedisClient } from '../lib/redis-client.js';
import type { Bucket } from '../services/integration-gateway/src/domain/limits.js';
import { limiterRedisOptions } from '../services/integration-gateway/src/limiter/connections.js';
import { RedisLimiter } from '../services/integration-gateway/src/limiter/redis-limiter.js';
import { startRedis } from '../test/harness/components/redis.js';
import { startRedisCluster } from '../test/harness/components/redis-cluster.js';
import { closedLoop } from './closed-loop.js';
import { cycle, flagValue, loadAverage1m, median, processCpuSeconds, required } from './support.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('--seconds', 2);
const ROUNDS = arg('--rounds', 5);
const CONCURRENCY = 64;
const OLD_SCRIPT_COMMIT = flagValue('--old-script') ?? '98e462d';

/** gcra.lua as it was at `commit` (same arguments: fault key, bucket keys; cost, interval, capacity). */
function oldScript(): string | undefined {
  try {
    return execFileSync(
      'git',
      ['show', `${OLD_SCRIPT_COMMIT}:services/integration-gateway/src/limiter/gcra.lua`],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
  } catch {
    console.log(`(git show ${OLD_SCRIPT_COMMIT}: not available; the old script is not measured)`);
    return undefined;
  }
}
const TENANTS = 100;
const LIMIT = { requestsPerMinute: 1_000_000, burst: 0 };

interface Sample {
  readonly checksPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly checks: number;
  /** Redis CPU (all servers of the target) per check, µs. */
  readonly redisCpuUsPerCheck: number;
  /** Node CPU of this process per check, µs. */
  readonly clientCpuUsPerCheck: number;
  readonly redirects?: number;
  /** Checks per EVAL/EVALSHA the target Redis served during the measurement. */
  readonly checksPerScriptCall?: number;
}

/** The shared closed loop (bench/closed-loop.ts), with the Redis servers' and this process' CPU per check. */
async function measuredLoop(
  op: (i: number) => Promise<unknown>,
  redisPids: readonly number[],
): Promise<Sample> {
  const redisBefore = redisPids.reduce((t, p) => t + processCpuSeconds(p) * 1e6, 0);
  const clientBefore = process.cpuUsage();
  const loop = await closedLoop(op, { seconds: SECONDS, concurrency: CONCURRENCY });
  const client = process.cpuUsage(clientBefore);
  const redisCpu = redisPids.reduce((t, p) => t + processCpuSeconds(p) * 1e6, 0) - redisBefore;
  return {
    checks: loop.ops,
    checksPerSecond: loop.opsPerSecond,
    p50Ms: loop.p50Ms,
    p99Ms: loop.p99Ms,
    redisCpuUsPerCheck: Math.round((redisCpu / loop.ops) * 10) / 10,
    clientCpuUsPerCheck: Math.round(((client.user + client.system) / loop.ops) * 10) / 10,
  };
}

/** MOVED + ASK replies the masters sent so far (INFO errorstats). */
async function redirectsSoFar(client: RedisClient): Promise<number> {
  let total = 0;
  for (const node of masters(client)) {
    const info = await node.info('errorstats');
    for (const m of info.matchAll(/errorstat_(?:MOVED|ASK):count=(\d+)/g)) total += Number(m[1]);
  }
  return total;
}

/** EVAL + EVALSHA calls a Redis has served so far (INFO commandstats): checks per script call. */
async function scriptCallsSoFar(client: RedisClient): Promise<number> {
  let total = 0;
  for (const node of masters(client)) {
    const info = await node.info('commandstats');
    for (const m of info.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)) total += Number(m[1]);
  }
  return total;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'novapos-bench-limiter-'));
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const single = await startRedis(dir);
  const cluster = await startRedisCluster(dir);
  const options = limiterRedisOptions(2000);
  const oneRedis = createRedisClient({ url: single.url, options });
  const clusterClient = createRedisClient({
    url: 'redis://',
    clusterNodes: parseClusterNodes(cluster.seeds),
    options,
  });
  await Promise.all(
    [oneRedis, clusterClient].map(
      (c) => new Promise<void>((r) => (c.status === 'ready' ? r() : c.once('ready', () => r()))),
    ),
  );
  const clusterPids = [...cluster.servers.values()].map((s) => s.process.pid);
  try {
    const tenants = Array.from({ length: TENANTS }, (_, i) => `bench-${i}`);
    const oneBucket = tenants.map((t): Bucket[] => [{ policy: 'tenant', id: t, limit: LIMIT }]);
    const threeBuckets = tenants.map((t): Bucket[] => [
      { policy: 'tenant', id: t, limit: LIMIT },
      { policy: 'route', id: `${t}:route:/api/orders`, limit: LIMIT },
      { policy: 'api-key', id: `${t}:key:ab12cd`, limit: LIMIT },
    ]);
    const limiter = new RedisLimiter(oneRedis);
    const clusterLimiter = new RedisLimiter(clusterClient);
    const flexible = new RateLimiterRedis({
      storeClient: oneRedis,
      points: 1_000_000,
      duration: 60,
      keyPrefix: 'bench-rlf',
    });
    const old = oldScript();
    if (old) oneRedis.defineCommand('benchOldGcra', { lua: old, numberOfKeys: 2 });
    const oldCommand = (oneRedis as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[
      'benchOldGcra'
    ];
    const oldArgs = [
      '1',
      String(60_000 / LIMIT.requestsPerMinute),
      String(LIMIT.requestsPerMinute + LIMIT.burst),
    ];
    const scenarios: Record<
      string,
      { op: (i: number) => Promise<unknown>; pids: number[]; cluster?: boolean }
    > = {
      ...(oldCommand
        ? {
            gcraBeforeIssue22: {
              op: (i: number) =>
                oldCommand.call(
                  oneRedis,
                  `bench-old:fault:${i % TENANTS}`,
                  `bench-old:bucket:${i % TENANTS}`,
                  ...oldArgs,
                ),
              pids: [single.process.pid],
            },
          }
        : {}),
      rateLimiterFlexible: { op: (i) => flexible.consume(cycle(tenants, i)), pids: [single.process.pid] },
      gcraOneBucket: {
        op: (i) => limiter.check(cycle(tenants, i), cycle(oneBucket, i)),
        pids: [single.process.pid],
      },
      gcraThreeBuckets: {
        op: (i) => limiter.check(cycle(tenants, i), cycle(threeBuckets, i)),
        pids: [single.process.pid],
      },
      clusterGcraOneBucket: {
        op: (i) => clusterLimiter.check(cycle(tenants, i), cycle(oneBucket, i)),
        pids: clusterPids,
        cluster: true,
      },
    };
    // Warm-up: scripts loaded, every tenant's slot known to the cluster client.
    for (const s of Object.values(scenarios)) for (let i = 0; i < TENANTS; i++) await s.op(i);
    const samples = new Map<string, Sample[]>(Object.keys(scenarios).map((n) => [n, []]));
    const samplesOf = (name: string) => required(samples.get(name), `the samples of ${name}`);
    const names = Object.keys(scenarios);
    const scenarioList = Object.entries(scenarios);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < scenarioList.length; k++) {
        const [name, s] = cycle(scenarioList, k + round);
        const target = s.cluster ? clusterClient : oneRedis;
        const before = s.cluster ? await redirectsSoFar(clusterClient) : 0;
        const callsBefore = await scriptCallsSoFar(target);
        const sample = await measuredLoop(s.op, s.pids);
        const redirects = s.cluster ? (await redirectsSoFar(clusterClient)) - before : undefined;
        const scriptCalls = (await scriptCallsSoFar(target)) - callsBefore;
        samplesOf(name).push({
          ...sample,
          checksPerScriptCall: Math.round((sample.checks / Math.max(1, scriptCalls)) * 10) / 10,
          ...(redirects !== undefined ? { redirects } : {}),
        });
      }
    }
    const summary = (name: string) => {
      const xs = samplesOf(name);
      return {
        checksPerSecond: median(xs.map((x) => x.checksPerSecond)),
        p50Ms: median(xs.map((x) => x.p50Ms)),
        p99Ms: median(xs.map((x) => x.p99Ms)),
        redisCpuUsPerCheck: median(xs.map((x) => x.redisCpuUsPerCheck)),
        clientCpuUsPerCheck: median(xs.map((x) => x.clientCpuUsPerCheck)),
        checksPerScriptCall: median(xs.map((x) => x.checksPerScriptCall ?? 0)),
        checks: xs.reduce((t, x) => t + x.checks, 0),
        ...(xs[0]?.redirects !== undefined
          ? { redirects: xs.reduce((t, x) => t + (x.redirects ?? 0), 0) }
          : {}),
      };
    };
    const figures = Object.fromEntries(names.map((n) => [n, summary(n)])) as Record<
      string,
      ReturnType<typeof summary>
    >;
    // Ratios within each round, then their median (steadier than a ratio of medians on a busy machine).
    const perRound = (a: string, b: string) => {
      const bs = samplesOf(b);
      const xs = samplesOf(a).map(
        (x, i) => x.checksPerSecond / required(bs[i], `round ${i + 1} of ${b}`).checksPerSecond,
      );
      const r2 = (x: number) => Math.round(x * 100) / 100;
      return { median: r2(median(xs)), min: r2(Math.min(...xs)), max: r2(Math.max(...xs)) };
    };
    const clusterRun = required(figures['clusterGcraOneBucket'], 'the cluster scenario');
    const ratios = {
      ...(oldCommand
        ? {
            gcraBeforeIssue22VsRateLimiterFlexible: perRound('gcraBeforeIssue22', 'rateLimiterFlexible'),
            gcraOneBucketVsBeforeIssue22: perRound('gcraOneBucket', 'gcraBeforeIssue22'),
          }
        : {}),
      gcraOneBucketVsRateLimiterFlexible: perRound('gcraOneBucket', 'rateLimiterFlexible'),
      gcraThreeBucketsVsRateLimiterFlexible: perRound('gcraThreeBuckets', 'rateLimiterFlexible'),
      clusterVsSingleRedis: perRound('clusterGcraOneBucket', 'gcraOneBucket'),
      clusterRedirectShare: (clusterRun.redirects ?? 0) / clusterRun.checks,
    };
    const results = {
      measuredAt: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        node: process.version,
        loadAverage1m: loadAverage1m(),
      },
      seconds: SECONDS,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      tenants: TENANTS,
      figures,
      ratios,
      note: 'Medians of interleaved rounds on a shared 2-core machine; client and Redis servers share the cores. Compare ratios, not absolute figures.',
    };
    for (const [name, f] of Object.entries(figures))
      console.log(
        `${name.padEnd(24)} ${String(f.checksPerSecond).padStart(7)} checks/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  redis ${f.redisCpuUsPerCheck} µs/check  client ${f.clientCpuUsPerCheck} µs/check  ${f.checksPerScriptCall} checks/call${f.redirects !== undefined ? `  redirects ${f.redirects}/${f.checks}` : ''}`,
      );
    console.log('ratios (per-round median, min, max)', JSON.stringify(ratios));
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/redis-limiter.json', `${JSON.stringify(results, null, 2)}\n`);
    console.log('written bench/results/redis-limiter.json');
  } finally {
    oneRedis.disconnect();
    clusterClient.disconnect();
    await cluster.stop();
    await single.process.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
