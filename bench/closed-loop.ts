/**
 * The closed load loop the limiter benchmarks share (bench/redis-limiter.ts, bench/gateway-limiter.ts):
 * `concurrency` callers each await `op` back to back for `seconds`; throughput and latency percentiles.
 */

export interface ClosedLoopResult {
  readonly ops: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Rounded to 3 decimals (ms figures in the results). */
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The `p` quantile (0..1) of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

export async function closedLoop(
  op: (i: number) => Promise<unknown>,
  opts: { readonly seconds: number; readonly concurrency: number },
): Promise<ClosedLoopResult> {
  const latencies: number[] = [];
  const deadline = performance.now() + opts.seconds * 1000;
  let i = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op(i++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    ops: latencies.length,
    opsPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: round3(percentile(sorted, 0.5)),
    p99Ms: round3(percentile(sorted, 0.99)),
  };
}
