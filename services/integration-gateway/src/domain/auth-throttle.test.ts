import { describe, expect, it } from 'vitest';
import { AuthThrottle, addressKey, type FailureCounts, keyPrefixKey } from './auth-throttle.js';

class MemoryCounts implements FailureCounts {
  readonly counts = new Map<string, number>();
  down = false;
  async get(keys: readonly string[]) {
    if (this.down) throw new Error('redis down');
    return keys.map((k) => this.counts.get(k) ?? 0);
  }
  async add(keys: readonly string[]) {
    if (this.down) throw new Error('redis down');
    for (const k of keys) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
}

const throttle = (store: FailureCounts, failureMode: 'failOpen' | 'failClosed' = 'failOpen', now = () => 0) =>
  new AuthThrottle({ store, perAddress: 3, perKeyPrefix: 2, windowMs: 60_000, failureMode, now });

describe('AuthThrottle', () => {
  it('allows until an address has spent its failure budget', async () => {
    const store = new MemoryCounts();
    const t = throttle(store);
    for (let i = 0; i < 3; i++) {
      expect(await t.check('10.0.0.1')).toBe('allow');
      await t.failed('10.0.0.1');
    }
    expect(await t.check('10.0.0.1')).toBe('throttled');
    expect(await t.check('10.0.0.2')).toBe('allow');
    expect(store.counts.get(addressKey('10.0.0.1'))).toBe(3);
  });

  it('limits a key prefix across addresses', async () => {
    const store = new MemoryCounts();
    const t = throttle(store);
    await t.failed('10.0.0.1', 'abc');
    await t.failed('10.0.0.2', 'abc');
    expect(await t.check('10.0.0.3', 'abc')).toBe('throttled');
    expect(await t.check('10.0.0.3', 'xyz')).toBe('allow');
    expect(store.counts.get(keyPrefixKey('abc'))).toBe(2);
  });

  it('with Redis down: failClosed refuses to verify, failOpen counts in process', async () => {
    const store = new MemoryCounts();
    store.down = true;
    expect(await throttle(store, 'failClosed').check('10.0.0.1')).toBe('unavailable');
    let now = 0;
    const t = throttle(store, 'failOpen', () => now);
    for (let i = 0; i < 3; i++) await t.failed('10.0.0.1');
    expect(await t.check('10.0.0.1')).toBe('throttled');
    now = 60_001;
    expect(await t.check('10.0.0.1')).toBe('allow');
  });
});
