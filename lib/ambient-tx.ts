/**
 * Ambient transactions for the transactional outbox (issue 20): a domain change and the event that
 * records it commit together or not at all.
 *
 * `withAmbientTransactions(db)` returns a Db whose `transaction(fn)` makes the transaction the current one
 * for everything `fn` awaits (AsyncLocalStorage): the repository's queries and the outbox's INSERT through
 * the same Db land in it without passing `tx` through every call. A `transaction()` inside one joins it
 * (no savepoint: an inner failure fails the whole unit, which is what a use case wants). Work that outlives
 * the transaction (a timer started inside it) finds it closed and uses the pool again.
 *
 * `afterCommit(fn)` runs `fn` once the current transaction committed (at once when there is none): the
 * relay's wake-up and the event's log line happen only for what was really committed.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db, Queryable } from './service-kit/db.js';

interface Frame {
  readonly owner: Db;
  readonly tx: Queryable;
  open: boolean;
  readonly afterCommit: (() => void)[];
}

const current = new AsyncLocalStorage<Frame>();

const openFrame = (): Frame | undefined => {
  const f = current.getStore();
  return f?.open ? f : undefined;
};

/** True while the caller runs inside an open ambient transaction (of any Db). */
export function inAmbientTransaction(): boolean {
  return openFrame() !== undefined;
}

/** Runs `fn` after the current ambient transaction commits (never when it rolls back); now without one. */
export function afterCommit(fn: () => void): void {
  const f = openFrame();
  if (f) f.afterCommit.push(fn);
  else fn();
}

class AmbientDb implements Db {
  constructor(private readonly inner: Db) {}

  get kind() {
    return this.inner.kind;
  }

  private frame(): Frame | undefined {
    const f = openFrame();
    return f && f.owner === this ? f : undefined;
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
    return (this.frame()?.tx ?? this.inner).query<T>(sql, params);
  }

  exec(sql: string) {
    return (this.frame()?.tx ?? this.inner).exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const joined = this.frame();
    if (joined) return fn(joined.tx);
    let frame: Frame | undefined;
    const out = await this.inner.transaction((tx) => {
      frame = { owner: this, tx, open: true, afterCommit: [] };
      const f = frame;
      return current
        .run(f, () => fn(tx))
        .finally(() => {
          f.open = false;
        });
    });
    // Committed: outside the frame now, so hooks (a relay wake-up) do not inherit it.
    for (const hook of frame?.afterCommit ?? []) {
      try {
        hook();
      } catch {
        // A hook is a notification; the commit stands.
      }
    }
    return out;
  }

  close() {
    return this.inner.close();
  }
}

const wrapped = new WeakMap<Db, AmbientDb>();

/**
 * `db` with ambient transactions (see the module comment). One view per Db: the repository and the outbox
 * publisher that each wrap the service's Db get the same one, so they share its transactions.
 */
export function withAmbientTransactions(db: Db): Db {
  if (db instanceof AmbientDb) return db;
  let view = wrapped.get(db);
  if (!view) {
    view = new AmbientDb(db);
    wrapped.set(db, view);
  }
  return view;
}
