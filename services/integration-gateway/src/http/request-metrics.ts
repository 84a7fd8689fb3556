import type { Registry } from 'prom-client';

/**
 * The per-request metrics of the gateway, kept in plain arrays and turned into Prometheus series when
 * scraped: `http_requests_total{method,route,status}`, `http_request_duration_seconds{method,route}` and
 * `gateway_request_duration_seconds{route,status}` (routes ping, proxy, other). prom-client validates and
 * hashes the label set on every inc/observe; here a request costs one Map lookup of its
 * (method, route, status) and a few additions (bench/README.md: prom-client was ~4% of the ping's CPU).
 * The series and their format are prom-client's; they live on the same Registry.
 */

/** http_request_duration_seconds buckets: the fleet's (auth-service has the same). */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5] as const;
/** gateway_request_duration_seconds buckets. */
export const GATEWAY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

interface Cell {
  readonly method: string;
  readonly route: string;
  readonly status: string;
  count: number;
  /** Per HTTP_BUCKETS (not cumulative), then +Inf. */
  readonly http: Float64Array;
  /** Per GATEWAY_BUCKETS, then +Inf; only used for the API routes. */
  readonly gateway: Float64Array;
  sum: number;
}

/** The routes `gateway_request_duration_seconds` covers (what the drill's guard reads). */
const GATEWAY_ROUTES = new Set(['ping', 'proxy', 'other']);

interface SeriesValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface MetricLike {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; values: SeriesValue[]; aggregator: 'sum' }>;
  reset(): void;
}

export class RequestMetrics {
  private readonly cells = new Map<string, Cell>();

  constructor(registry: Registry) {
    const metric = (
      name: string,
      help: string,
      type: 'counter' | 'histogram',
      values: () => SeriesValue[],
    ) => {
      const m: MetricLike = {
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => ({ name, help, type, values: values(), aggregator: 'sum' }),
        reset: () => this.cells.clear(),
      };
      registry.registerMetric(m as never);
    };
    metric('http_requests_total', 'HTTP requests by method, route pattern and status code.', 'counter', () =>
      [...this.cells.values()].map((c) => ({
        labels: { method: c.method, route: c.route, status: c.status },
        value: c.count,
      })),
    );
    metric(
      'http_request_duration_seconds',
      'HTTP request duration by method and route pattern.',
      'histogram',
      () =>
        histogramValues(
          'http_request_duration_seconds',
          HTTP_BUCKETS,
          this.cells,
          (c) => ({ method: c.method, route: c.route }),
          (c) => c.http,
        ),
    );
    metric(
      'gateway_request_duration_seconds',
      'Gateway request duration by route kind (ping, proxy, other) and status.',
      'histogram',
      () =>
        histogramValues(
          'gateway_request_duration_seconds',
          GATEWAY_BUCKETS,
          new Map([...this.cells].filter(([, c]) => GATEWAY_ROUTES.has(c.route))),
          (c) => ({ route: c.route, status: c.status }),
          (c) => c.gateway,
        ),
    );
  }

  /** One answered request. `method` is already bounded (known methods or `other`). */
  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = {
        method,
        route,
        status: String(status),
        count: 0,
        http: new Float64Array(HTTP_BUCKETS.length + 1),
        gateway: new Float64Array(GATEWAY_BUCKETS.length + 1),
        sum: 0,
      };
      this.cells.set(key, cell);
    }
    cell.count++;
    cell.sum += seconds;
    increment(cell.http, bucketOf(HTTP_BUCKETS, seconds));
    if (GATEWAY_ROUTES.has(route)) increment(cell.gateway, bucketOf(GATEWAY_BUCKETS, seconds));
  }
}

/** The index of the first bound `value` is within; `bounds.length` (the +Inf bucket) above them all. */
function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0;
  for (const bound of bounds) {
    if (value <= bound) return i;
    i++;
  }
  return i;
}

/** Adds `by` to a histogram's bucket; the arrays are sized to their bounds + 1, so `i` is always inside. */
function increment(counts: Float64Array, i: number, by = 1): void {
  counts[i] = (counts[i] ?? 0) + by;
}

/** Cells merged by their labels (e.g. every status of one method and route), as prom-client writes a histogram. */
function histogramValues(
  name: string,
  bounds: readonly number[],
  cells: ReadonlyMap<string, Cell>,
  labelsOf: (c: Cell) => Record<string, string>,
  countsOf: (c: Cell) => Float64Array,
): SeriesValue[] {
  const merged = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number }>();
  for (const c of cells.values()) {
    const labels = labelsOf(c);
    const key = JSON.stringify(labels);
    let m = merged.get(key);
    if (!m) {
      m = { labels, counts: new Float64Array(bounds.length + 1), sum: 0 };
      merged.set(key, m);
    }
    const counts = countsOf(c);
    for (const [i, n] of counts.entries()) increment(m.counts, i, n);
    m.sum += c.sum;
  }
  const out: SeriesValue[] = [];
  for (const { labels, counts, sum } of merged.values()) {
    let cumulative = 0;
    bounds.forEach((le, i) => {
      cumulative += counts[i] ?? 0;
      out.push({ labels: { le, ...labels }, value: cumulative, metricName: `${name}_bucket` });
    });
    cumulative += counts[bounds.length] ?? 0;
    out.push({ labels: { le: '+Inf', ...labels }, value: cumulative, metricName: `${name}_bucket` });
    out.push({ labels, value: sum, metricName: `${name}_sum` });
    out.push({ labels, value: cumulative, metricName: `${name}_count` });
  }
  return out;
}
