import { Command } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { bucketKey, configKey, faultKey } from './ratelimit-contract.js';
import {
  CachedRevocationCheck,
  isRevoked,
  legacyRevocationKeys,
  MemorySessionRevocation,
  RedisSessionRevocation,
  type RevocationRedis,
  sessionRevokedKey,
  validAfterKey,
} from './session-revocation.js';

/** The Redis Cluster slot of a key as ioredis routes it (cluster-key-slot's calculateSlot: CRC16 of the hash tag). */
const slotOf = (key: string) => new Command('get', [key]).getSlot();

/** A RevocationRedis over a map that records every command. */
function recordingRedis() {
  const values = new Map<string, string>();
  const log: { mget: string[][]; set: [string, string, string, number][] } = { mget: [], set: [] };
  const redis: RevocationRedis = {
    mget: async (...keys) => {
      log.mget.push(keys);
      return keys.map((k) => values.get(k) ?? null);
    },
    set: async (key, value, mode, seconds) => {
      log.set.push([key, value, mode, seconds]);
      values.set(key, value);
    },
  };
  return { redis, values, log };
}

const token = (issuedAt: number, sid: string | undefined = 's1') => ({
  tenant: 't',
  userId: 'u',
  sid,
  issuedAt,
});

describe('session revocation', () => {
  it('names the contract keys with the tenant as the Redis Cluster hash tag, and the legacy names', () => {
    expect(validAfterKey('acme', 'u1')).toBe('novapos:auth:valid-after:{acme}:u1');
    expect(sessionRevokedKey('acme', 'f1')).toBe('novapos:auth:session-revoked:{acme}:f1');
    expect(legacyRevocationKeys.validAfter('acme', 'u1')).toBe('novapos:auth:valid-after:acme:u1');
    expect(legacyRevocationKeys.sessionRevoked('f1')).toBe('novapos:auth:session-revoked:f1');
  });

  it("puts a tenant's revocation keys in the slot of its limiter keys (one master of a cluster)", () => {
    const slots = new Set<number>();
    for (const tenant of ['acme', 'globex', 'a:b', 'we{ird', 'we}ird', 'x'.repeat(200)]) {
      const limiter = slotOf(configKey(tenant));
      expect(slotOf(faultKey(tenant))).toBe(limiter);
      expect(slotOf(bucketKey(tenant, tenant))).toBe(limiter);
      for (const [user, sid] of [
        ['u1', 'f1'],
        ['9f8e-user', '0a1b2c3d-family'],
        ['{odd}', '}{'],
      ] as const) {
        expect(slotOf(validAfterKey(tenant, user))).toBe(limiter);
        expect(slotOf(sessionRevokedKey(tenant, sid))).toBe(limiter);
      }
      slots.add(limiter);
    }
    // The tag is the tenant's: tenants still spread over the slots.
    expect(slots.size).toBeGreaterThan(1);
  });

  it('writers write the new and the legacy names, with the same value and TTL', async () => {
    const { redis, log } = recordingRedis();
    const store = new RedisSessionRevocation(redis);
    const after = await store.revokeUser('acme', 'u1', 1_700_000_000_500);
    await store.revokeSession('acme', 'f1');
    expect(log.set.sort()).toEqual(
      [
        [validAfterKey('acme', 'u1'), String(after), 'EX', 86_400],
        [legacyRevocationKeys.validAfter('acme', 'u1'), String(after), 'EX', 86_400],
        [sessionRevokedKey('acme', 'f1'), '1', 'EX', 86_400],
        [legacyRevocationKeys.sessionRevoked('f1'), '1', 'EX', 86_400],
      ].sort(),
    );
  });

  it("a reader reads only the new names, in one MGET of the tenant's slot", async () => {
    const { redis, values, log } = recordingRedis();
    const store = new RedisSessionRevocation(redis);
    // Written under the legacy names only (auth-service before this release): not read.
    values.set(legacyRevocationKeys.validAfter('acme', 'u1'), '100');
    values.set(legacyRevocationKeys.sessionRevoked('f1'), '1');
    expect(await store.isRevoked({ tenant: 'acme', userId: 'u1', sid: 'f1', issuedAt: 50 })).toBe(false);
    expect(await store.isRevoked({ tenant: 'acme', userId: 'u1', sid: undefined, issuedAt: 50 })).toBe(false);
    expect(log.mget).toEqual([
      [validAfterKey('acme', 'u1'), sessionRevokedKey('acme', 'f1')],
      [validAfterKey('acme', 'u1')],
    ]);
    const [first] = log.mget;
    expect(new Set(first?.map(slotOf))).toEqual(new Set([slotOf(configKey('acme'))]));
    values.set(sessionRevokedKey('acme', 'f1'), '1');
    expect(await store.isRevoked({ tenant: 'acme', userId: 'u1', sid: 'f1', issuedAt: 50 })).toBe(true);
    // Another tenant's session of the same id is not revoked by it.
    expect(await store.isRevoked({ tenant: 'globex', userId: 'u1', sid: 'f1', issuedAt: 50 })).toBe(false);
  });

  it('auth-service (readLegacyNames) also honours what a replica before this release wrote', async () => {
    const { redis, values } = recordingRedis();
    const store = new RedisSessionRevocation(redis, { readLegacyNames: true });
    const t = { tenant: 'acme', userId: 'u1', sid: 'f1', issuedAt: 150 };
    expect(await store.isRevoked(t)).toBe(false);
    values.set(legacyRevocationKeys.validAfter('acme', 'u1'), '200');
    expect(await store.isRevoked(t)).toBe(true);
    expect(await store.validAfter('acme', 'u1')).toBe(200);
    // The later of the two valid-after times counts.
    values.set(validAfterKey('acme', 'u1'), '100');
    expect(await store.validAfter('acme', 'u1')).toBe(200);
    values.set(validAfterKey('acme', 'u1'), '300');
    expect(await store.validAfter('acme', 'u1')).toBe(300);
    values.clear();
    values.set(legacyRevocationKeys.sessionRevoked('f1'), '1');
    expect(await store.isRevoked(t)).toBe(true);
    expect(await store.isRevoked({ ...t, sid: 'f2' })).toBe(false);
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
    await store.revokeSession('t', 's1');
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
