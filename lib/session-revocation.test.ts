import { describe, expect, it } from 'vitest';
import {
  CachedRevocationCheck,
  isRevoked,
  MemorySessionRevocation,
  sessionRevokedKey,
  validAfterKey,
} from './session-revocation.js';

const token = (issuedAt: number, sid: string | undefined = 's1') => ({
  tenant: 't',
  userId: 'u',
  sid,
  issuedAt,
});

describe('session revocation', () => {
  it('names the contract keys', () => {
    expect(validAfterKey('acme', 'u1')).toBe('novapos:auth:valid-after:acme:u1');
    expect(sessionRevokedKey('f1')).toBe('novapos:auth:session-revoked:f1');
  });

  it('a token issued before the valid-after time is revoked; at or after it is not', () => {
    expect(isRevoked(token(99), '100', null)).toBe(true);
    expect(isRevoked(token(100), '100', null)).toBe(false);
    expect(isRevoked(token(99), null, null)).toBe(false);
    expect(isRevoked(token(99), 'garbage', null)).toBe(false);
    expect(isRevoked(token(500), '100', '1')).toBe(true);
  });

  it('revoking a user covers every token of the current second, and new ones are issued at valid-after', async () => {
    const store = new MemorySessionRevocation();
    const now = 1_700_000_000_500;
    const after = await store.revokeUser('t', 'u', now);
    expect(after).toBe(1_700_000_001);
    expect(await store.isRevoked(token(Math.floor(now / 1000)))).toBe(true);
    expect(await store.isRevoked(token(after))).toBe(false);
    expect(await store.validAfter('t', 'u')).toBe(after);
    await store.revokeSession('s1');
    expect(await store.isRevoked(token(after + 10))).toBe(true);
    expect(await store.isRevoked(token(after + 10, 's2'))).toBe(false);
  });

  it('the cached check answers from cache within cacheMs, and keeps its last answer when the store fails', async () => {
    let calls = 0;
    let fail = false;
    let revoked = false;
    const check = new CachedRevocationCheck(
      {
        isRevoked: async () => {
          calls++;
          if (fail) throw new Error('down');
          return revoked;
        },
      },
      { cacheMs: 50 },
    );
    expect(await check.isRevoked(token(1))).toBe(false);
    revoked = true;
    expect(await check.isRevoked(token(1))).toBe(false); // cached
    expect(calls).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(await check.isRevoked(token(1))).toBe(true);
    fail = true;
    await new Promise((r) => setTimeout(r, 60));
    expect(await check.isRevoked(token(1))).toBe(true); // last answer
    expect(await check.isRevoked(token(2))).toBe(false); // never seen: let through during an outage
  });
});
