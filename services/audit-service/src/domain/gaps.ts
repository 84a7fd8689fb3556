/**
 * Per-producer sequence tracking (issue 20, "a gap is a detectable break"). Producers number their events
 * 1, 2, 3... without holes (lib/kafka-events.ts); events of one producer arrive out of order across
 * partitions, so a missing number is normal for a moment. A hole that stays open longer than the SLO
 * (60 s, seed 001) is a gap: counted once, and reported until it closes.
 */
export interface OpenHole {
  readonly producer: string;
  /** The first missing number. */
  readonly seq: number;
  /** Since when a later number is known and this one is not. */
  readonly sinceMs: number;
}

interface ProducerState {
  /** Every number up to this one has been seen. */
  contiguous: number;
  /** Numbers above contiguous+1 seen, with when. */
  ahead: Map<number, number>;
  /** When the current hole (at contiguous+1) opened: the earliest arrival above it; undefined when none. */
  holeSince: number | undefined;
  /** The hole already counted as a gap. */
  countedHole: number | undefined;
  /** holeSince must be recomputed from `ahead`. */
  stale: boolean;
}

export class GapTracker {
  private readonly producers = new Map<string, ProducerState>();

  constructor(
    private readonly sloMs: number,
    private readonly onGap: (producer: string, seq: number) => void = () => {},
  ) {}

  /** Restores a producer's state after a restart (from the database). */
  restore(producer: string, contiguous: number, ahead: readonly number[], nowMs: number): void {
    const s: ProducerState = {
      contiguous,
      ahead: new Map(),
      holeSince: undefined,
      countedHole: undefined,
      stale: true,
    };
    for (const n of ahead) if (n > contiguous) s.ahead.set(n, nowMs);
    this.producers.set(producer, s);
    this.advance(s, nowMs);
  }

  /** Records that `producer`'s event number `seq` was chained. */
  seen(producer: string, seq: number, nowMs: number): void {
    let s = this.producers.get(producer);
    if (!s) {
      s = { contiguous: 0, ahead: new Map(), holeSince: undefined, countedHole: undefined, stale: false };
      this.producers.set(producer, s);
    }
    if (seq <= s.contiguous) return;
    if (!s.ahead.has(seq)) {
      s.ahead.set(seq, nowMs);
      if (!s.stale && (s.holeSince === undefined || nowMs < s.holeSince)) s.holeSince = nowMs;
    }
    this.advance(s, nowMs);
  }

  private advance(s: ProducerState, _nowMs: number): void {
    let removed = false;
    while (s.ahead.has(s.contiguous + 1)) {
      s.ahead.delete(s.contiguous + 1);
      s.contiguous++;
      removed = true;
    }
    if (s.ahead.size === 0) {
      s.holeSince = undefined;
      s.stale = false;
      return;
    }
    // The hole opened when the earliest number above it arrived. Kept in O(1) per event: a new arrival can
    // only lower it; numbers leaving `ahead` may raise it, recomputed (one pass) when next read.
    if (removed) s.stale = true;
  }

  private holeSince(s: ProducerState): number | undefined {
    if (s.ahead.size === 0) return undefined;
    if (s.stale || s.holeSince === undefined) {
      let min = Number.POSITIVE_INFINITY;
      for (const t of s.ahead.values()) if (t < min) min = t;
      s.holeSince = min;
      s.stale = false;
    }
    return s.holeSince;
  }

  /** Holes open longer than the SLO; each newly overdue one is reported to onGap once. */
  check(nowMs: number): OpenHole[] {
    const overdue: OpenHole[] = [];
    for (const [producer, s] of this.producers) {
      const since = this.holeSince(s);
      if (since === undefined) continue;
      if (nowMs - since < this.sloMs) continue;
      const seq = s.contiguous + 1;
      if (s.countedHole !== seq) {
        s.countedHole = seq;
        this.onGap(producer, seq);
      }
      overdue.push({ producer, seq, sinceMs: since });
    }
    return overdue;
  }

  /** The age of the oldest open hole (overdue or not) per producer, for the gauge. */
  openHoleAges(nowMs: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [producer, s] of this.producers) {
      const since = this.holeSince(s);
      out.set(producer, since === undefined ? 0 : (nowMs - since) / 1000);
    }
    return out;
  }

  contiguous(producer: string): number {
    return this.producers.get(producer)?.contiguous ?? 0;
  }
}
