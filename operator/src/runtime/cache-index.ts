/**
 * Secondary indexes over an informer's cache, as client-go's Indexer and controller-runtime's field indexes:
 * each index maps a value computed from an object (say its `spec.tenant`) to the keys of the cached objects
 * that have it, so a reconciler asks for "the resources of tenant X" in O(1) instead of filtering the whole
 * cache on every reconcile (O(n²) over a cold start of n objects).
 */
export type IndexFunc<T> = (obj: T) => readonly string[];

export class CacheIndex<T> {
  /** index name → value → keys. */
  private readonly byName = new Map<string, Map<string, Set<string>>>();

  constructor(private readonly indexers: Readonly<Record<string, IndexFunc<T>>> = {}) {
    for (const name of Object.keys(indexers)) this.byName.set(name, new Map());
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** Moves `key` from what `old` indexed under to what `next` does (either may be undefined). */
  update(key: string, old: T | undefined, next: T | undefined): void {
    for (const [name, values] of this.byName) {
      const indexer = this.indexers[name];
      if (indexer === undefined) continue;
      const before = old === undefined ? [] : indexer(old);
      const after = next === undefined ? [] : indexer(next);
      for (const v of before) {
        if (after.includes(v)) continue;
        const keys = values.get(v);
        keys?.delete(key);
        if (keys?.size === 0) values.delete(v);
      }
      for (const v of after) {
        let keys = values.get(v);
        if (keys === undefined) {
          keys = new Set();
          values.set(v, keys);
        }
        keys.add(key);
      }
    }
  }

  /** The keys indexed under `value` by index `name`; throws for an index that was not declared. */
  keys(name: string, value: string): ReadonlySet<string> {
    const values = this.byName.get(name);
    if (values === undefined) throw new Error(`no index named ${name}`);
    return values.get(value) ?? EMPTY;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
