import type { EventPublisher } from '../../../../lib/events.js';

/**
 * API key usage (runbook 001): each replica counts requests per key in memory, writes the deltas to
 * `api_key_usage` every flush interval (five minutes by default) and publishes an hourly summary event per
 * (tenant, key prefix) to the audit topic. A failed write keeps its counts for the next flush.
 */

export interface UsageDelta {
  readonly apiKeyId: string;
  readonly tenantId: string;
  readonly keyPrefix: string;
  readonly requests: number;
  readonly rejected: number;
  readonly windowStart: Date;
  readonly windowEnd: Date;
  readonly lastSeenAt: Date;
  readonly replicaId: string;
}

export interface UsageStore {
  insertDeltas(rows: readonly UsageDelta[]): Promise<void>;
}

interface Counts {
  apiKeyId: string;
  tenantId: string;
  keyPrefix: string;
  requests: number;
  rejected: number;
  lastSeenAt: number;
}

export interface UsageTrackerOptions {
  readonly store: UsageStore;
  readonly events: EventPublisher;
  readonly topic: string;
  readonly replicaId: string;
  readonly now?: () => number;
  readonly onError?: (what: 'flush', err: unknown) => void;
}

export class UsageTracker {
  private pending = new Map<string, Counts>();
  private hourly = new Map<string, Counts>();
  private windowStart: number;
  private summaryStart: number;
  private readonly now: () => number;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: UsageTrackerOptions) {
    this.now = opts.now ?? Date.now;
    this.windowStart = this.now();
    this.summaryStart = this.windowStart;
  }

  record(key: { id: string; tenant: string; prefix: string }, rejected: boolean): void {
    const now = this.now();
    for (const map of [this.pending, this.hourly]) {
      let c = map.get(key.id);
      if (!c) {
        c = {
          apiKeyId: key.id,
          tenantId: key.tenant,
          keyPrefix: key.prefix,
          requests: 0,
          rejected: 0,
          lastSeenAt: now,
        };
        map.set(key.id, c);
      }
      c.requests += 1;
      if (rejected) c.rejected += 1;
      c.lastSeenAt = now;
    }
  }

  /** Writes the counts since the last flush; on failure they are kept and added to the next window. */
  async flush(): Promise<number> {
    const rows = this.pending;
    const windowStart = this.windowStart;
    const windowEnd = this.now();
    this.pending = new Map();
    this.windowStart = windowEnd;
    if (rows.size === 0) return 0;
    const deltas: UsageDelta[] = [...rows.values()].map((c) => ({
      ...c,
      windowStart: new Date(windowStart),
      windowEnd: new Date(windowEnd),
      lastSeenAt: new Date(c.lastSeenAt),
      replicaId: this.opts.replicaId,
    }));
    try {
      await this.opts.store.insertDeltas(deltas);
      return deltas.length;
    } catch (err) {
      this.opts.onError?.('flush', err);
      for (const c of rows.values()) {
        const now = this.pending.get(c.apiKeyId);
        if (now) {
          now.requests += c.requests;
          now.rejected += c.rejected;
        } else this.pending.set(c.apiKeyId, c);
      }
      this.windowStart = windowStart;
      return 0;
    }
  }

  /** Publishes one `api_key_usage_summary` event per (tenant, key prefix) for the window just ended. */
  async summarize(): Promise<number> {
    const counts = this.hourly;
    const start = this.summaryStart;
    const end = this.now();
    this.hourly = new Map();
    this.summaryStart = end;
    for (const c of counts.values()) {
      await this.opts.events.publish(this.opts.topic, {
        type: 'api_key_usage_summary',
        trace_id: null,
        tenant_id: c.tenantId,
        user_id: null,
        actor_role: 'api_key',
        outcome: 'summarized',
        key_prefix: c.keyPrefix,
        api_key_id: c.apiKeyId,
        requests: c.requests,
        rejected: c.rejected,
        window_start: new Date(start).toISOString(),
        window_end: new Date(end).toISOString(),
        last_seen_at: new Date(c.lastSeenAt).toISOString(),
        replica_id: this.opts.replicaId,
      });
    }
    return counts.size;
  }

  start(flushMs: number, summaryMs: number): void {
    this.timers.push(setInterval(() => void this.flush(), flushMs).unref());
    this.timers.push(setInterval(() => void this.summarize(), summaryMs).unref());
  }

  /** Stops the timers and writes what is left (graceful shutdown). */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flush();
    await this.summarize();
  }
}
