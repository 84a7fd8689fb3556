import { describe, expect, it } from 'vitest';
import { dropOldest } from './bounded-map.js';

describe('dropOldest', () => {
  it('removes the oldest entries, in insertion order, down to the bound', () => {
    const m = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    m.delete('a');
    m.set('a', 1); // re-inserted: now the newest
    dropOldest(m, 2);
    expect([...m.keys()]).toEqual(['c', 'a']);
    dropOldest(m, 0);
    expect(m.size).toBe(0);
  });

  it('leaves a map within its bound alone', () => {
    const m = new Map([['a', 1]]);
    dropOldest(m, 1);
    expect([...m.keys()]).toEqual(['a']);
  });
});
