/**
 * Secondary indexes over an informer's cache, as client-go's Indexer and controller-runtime's field indexes:
 * each index maps a value computed from an object (say its `spec.tenant`) to the keys of the cached objects
 * that have it, so a reconciler asks for "the resources of tenant X" in O(1) instead of filtering the whole
 * cache on every reconcile (O(n²) over a cold start of n objects).
 */
export type IndexFunc<T> = (obj: T) => readonly string[];

export class CacheIndex<T> {
  /** index name → its function and value → keys. */
  private readonly indexes = new Map<string, { of: IndexFunc<T>; keys: Map<string, Set<string>> }>();

  constructor(indexers: Readonly<Record<string, IndexFunc<T>>> = {}) {
    for (const [name, of] of Object.entries(indexers)) this.indexes.set(name, { of, keys: new Map() });
  }

  /** Moves `key` from what `old` indexed under to what `next` does (either may be undefined). */
  update(key: string, old: T | undefined, next: T | undefined): void {
    for (const { of, keys: byValue } of this.indexes.values()) {
      const before = old === undefined ? [] : of(old);
      const after = next === undefined ? [] : of(next);
      for (const v of before) {
        if (after.includes(v)) continue;
        const keys = byValue.get(v);
        keys?.delete(key);
        if (keys?.size === 0) byValue.delete(v);
      }
      for (const v of after) {
        let keys = byValue.get(v);
        if (keys === undefined) {
          keys = new Set();
          byValue.set(v, keys);
        }
        keys.add(key);
      }
    }
  }

  /** The keys indexed under `value` by index `name`; throws for an index that was not declared. */
  keys(name: string, value: string): ReadonlySet<string> {
    const index = this.indexes.get(name);
    if (index === undefined) throw new Error(`no index named ${name}`);
    return index.keys.get(value) ?? EMPTY;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
