import { describe, expect, it } from 'vitest';
import { CacheIndex } from './cache-index.js';

interface Obj {
  readonly tenant?: string;
  readonly tags?: string[];
}

const index = () =>
  new CacheIndex<Obj>({
    tenant: (o) => (o.tenant ? [o.tenant] : []),
    tag: (o) => o.tags ?? [],
  });

describe('CacheIndex', () => {
  it('finds the keys of a value, follows updates and forgets deletions', () => {
    const idx = index();
    idx.update('ns/a', undefined, { tenant: 'acme' });
    idx.update('ns/b', undefined, { tenant: 'acme' });
    idx.update('other/c', undefined, { tenant: 'globex' });
    expect([...idx.keys('tenant', 'acme')].sort()).toEqual(['ns/a', 'ns/b']);
    // b moves to another tenant: gone from acme, found under globex.
    idx.update('ns/b', { tenant: 'acme' }, { tenant: 'globex' });
    expect([...idx.keys('tenant', 'acme')]).toEqual(['ns/a']);
    expect([...idx.keys('tenant', 'globex')].sort()).toEqual(['ns/b', 'other/c']);
    idx.update('ns/a', { tenant: 'acme' }, undefined);
    expect(idx.keys('tenant', 'acme').size).toBe(0);
    expect(idx.keys('tenant', 'nobody').size).toBe(0);
  });

  it('indexes an object under several values, and under none', () => {
    const idx = index();
    idx.update('k', undefined, { tags: ['x', 'y'] });
    idx.update('k', { tags: ['x', 'y'] }, { tags: ['y', 'z'] });
    expect(idx.keys('tag', 'x').size).toBe(0);
    expect([...idx.keys('tag', 'y')]).toEqual(['k']);
    expect([...idx.keys('tag', 'z')]).toEqual(['k']);
    idx.update('k', { tags: ['y', 'z'] }, {});
    expect(idx.keys('tag', 'y').size + idx.keys('tag', 'z').size).toBe(0);
  });

  it('refuses an index it was not given', () => {
    expect(() => index().keys('owner', 'x')).toThrow('no index named owner');
  });
});
