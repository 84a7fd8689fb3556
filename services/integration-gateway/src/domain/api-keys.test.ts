import { describe, expect, it } from 'vitest';
import {
  ApiKeyAuthenticator,
  type ApiKeyRecord,
  ApiKeyRejected,
  type ApiKeyAuthenticator as Auth,
  apiKeyPrefix,
} from './api-keys.js';

const KEY = `npk_abcdefghijk2_${'a'.repeat(32)}`;

function setup() {
  let clock = 0;
  let row: ApiKeyRecord | undefined = { id: 'k1', tenantId: 'acme', keyHash: 'hash-of-key' };
  const calls = { store: 0, hash: 0 };
  const auth: Auth = new ApiKeyAuthenticator({
    store: {
      findLiveByPrefix: async () => {
        calls.store++;
        return row;
      },
    },
    revalidateMs: 30_000,
    cacheSize: 10,
    verifyHash: async (hash, key) => {
      calls.hash++;
      return hash === 'hash-of-key' && key === KEY;
    },
    now: () => clock,
  });
  return { auth, calls, tick: (ms: number) => (clock += ms), revoke: () => (row = undefined) };
}

describe('ApiKeyAuthenticator', () => {
  it('parses the prefix auth-service issues and refuses anything else', () => {
    expect(apiKeyPrefix(KEY)).toBe('abcdefghijk2');
    expect(apiKeyPrefix('npk_short_key')).toBeUndefined();
  });

  it('verifies the argon2id hash once, then serves the key from memory', async () => {
    const { auth, calls } = setup();
    expect(await auth.authenticate(KEY)).toMatchObject({ tenant: 'acme', prefix: 'abcdefghijk2', id: 'k1' });
    await auth.authenticate(KEY);
    expect(calls).toEqual({ store: 1, hash: 1 });
  });

  it('honours a revocation within the revalidation bound, without hashing again meanwhile', async () => {
    const { auth, calls, tick, revoke } = setup();
    await auth.authenticate(KEY);
    revoke();
    tick(29_999);
    await expect(auth.authenticate(KEY)).resolves.toBeDefined();
    tick(1);
    await expect(auth.authenticate(KEY)).rejects.toEqual(new ApiKeyRejected('unknown_or_revoked'));
    expect(calls.hash).toBe(1);
  });

  it('remembers a wrong key so repeating it costs no further hashing', async () => {
    const { auth, calls } = setup();
    const wrong = `npk_abcdefghijk2_${'b'.repeat(32)}`;
    await expect(auth.authenticate(wrong)).rejects.toMatchObject({ reason: 'invalid' });
    await expect(auth.authenticate(wrong)).rejects.toMatchObject({ reason: 'invalid' });
    expect(calls.hash).toBe(1);
  });

  it('never puts the key in an error message', async () => {
    const { auth } = setup();
    const wrong = `npk_abcdefghijk2_${'c'.repeat(32)}`;
    const err = await auth.authenticate(wrong).catch((e: Error) => e);
    expect(String((err as Error).message)).not.toContain('ccccc');
  });
});
