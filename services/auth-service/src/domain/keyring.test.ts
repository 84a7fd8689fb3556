import { decodeJwt, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../../lib/keyset.js';
import {
  computeKeysetHash,
  KeyRing,
  type KeysetError,
  type KeysetSource,
  parseActiveKeySecret,
  parseKeysetDocument,
} from './keyring.js';

async function aKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' } as JWK,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } as JWK,
  };
}

function aKeysetDoc(keys: JWK[], activeKid: string, over: Record<string, unknown> = {}) {
  const jwks = { keys };
  return {
    issuer: 'https://auth.novapos.local',
    audiences: ['novapos-api'],
    algorithm: 'ES256',
    jwks,
    activeKid,
    nextKid: '',
    keysetHash: computeKeysetHash(jwks, activeKid),
    jwksCacheTTLSeconds: 300,
    maxTokenTTLSeconds: 900,
    updatedAt: '2026-01-01T00:00:00Z',
    ...over,
  };
}

/** An in-memory KeysetSource: a map, for the pure load/keep-last-good logic. */
function aSource(docs: { keyset?: unknown; keys: Record<string, unknown>; fail?: boolean }): KeysetSource {
  return {
    readKeyset: async () => {
      if (docs.fail) throw new Error('connect ECONNREFUSED');
      return docs.keyset;
    },
    readKey: async (kid) => docs.keys[kid],
  };
}

describe('key-set document', () => {
  let k1: Awaited<ReturnType<typeof aKey>>;
  let k2: Awaited<ReturnType<typeof aKey>>;
  beforeAll(async () => {
    k1 = await aKey('k1');
    k2 = await aKey('k2');
  });

  it('hashes canonical JSON, so member order (which Vault does not keep) does not matter', () => {
    const reordered = { ...k1.publicJwk, kid: 'k1' };
    const sorted = JSON.parse(canonicalJson(reordered)) as JWK;
    expect(computeKeysetHash({ keys: [sorted] }, 'k1')).toBe(
      computeKeysetHash({ keys: [k1.publicJwk] }, 'k1'),
    );
    expect(computeKeysetHash({ keys: [k1.publicJwk, k2.publicJwk] }, 'k1')).not.toBe(
      computeKeysetHash({ keys: [k2.publicJwk, k1.publicJwk] }, 'k1'),
    );
  });

  it.each([
    ['a wrong hash', { keysetHash: 'abc' }, 'keyset_hash_mismatch'],
    ['an active kid not in the set', { activeKid: 'nope' }, 'keyset_invalid'],
    ['no audiences', { audiences: [] }, 'keyset_invalid'],
  ])('refuses %s', (_name, over, errCode) => {
    expect(() => parseKeysetDocument(aKeysetDoc([k1.publicJwk], 'k1', over))).toThrow(
      expect.objectContaining({ code: errCode }),
    );
  });

  it('refuses a private key in the public set', () => {
    const doc = aKeysetDoc([k1.privateJwk], 'k1');
    expect(() => parseKeysetDocument(doc)).toThrow(expect.objectContaining({ code: 'keyset_invalid' }));
  });

  it('refuses an active-key secret that does not match the published key or is not active', () => {
    const good = { kid: 'k1', alg: 'ES256', state: 'active', privateJwk: k1.privateJwk, createdAt: 'x' };
    expect(parseActiveKeySecret(good, k1.publicJwk).kid).toBe('k1');
    expect(() =>
      parseActiveKeySecret({ ...good, privateJwk: { ...k2.privateJwk, kid: 'k1' } }, k1.publicJwk),
    ).toThrow(/does not belong/);
    expect(() => parseActiveKeySecret({ ...good, state: 'next' }, k1.publicJwk)).toThrow(/not active/);
  });

  /** A key set of k1 alone, active, and its secret. */
  const k1Only = () => ({
    keyset: aKeysetDoc([k1.publicJwk], 'k1') as unknown,
    keys: {
      k1: { kid: 'k1', alg: 'ES256', state: 'active', privateJwk: k1.privateJwk, createdAt: 'x' },
    } as Record<string, unknown>,
  });

  it('keeps the last good set when a reload fails, and never names key material in the error', async () => {
    const docs = { ...k1Only(), fail: false };
    const failures: KeysetError[] = [];
    const ring = new KeyRing(aSource(docs), { loaded: () => {}, failed: (e) => failures.push(e) });
    await ring.reload();
    const loaded = ring.status();
    expect(loaded.activeKid).toBe('k1');
    docs.fail = true;
    await ring.reload();
    docs.fail = false;
    docs.keyset = aKeysetDoc([k1.publicJwk, k2.publicJwk], 'k2'); // k2's secret is missing
    await ring.reload();
    expect(ring.status()).toEqual(loaded);
    expect(failures.map((f) => f.code)).toEqual(['source_unavailable', 'key_missing']);
    expect(failures.map((f) => f.message).join(' ')).not.toContain(String(k1.privateJwk.d));
    const signed = await ring.sign({ tid: 't' }, { subject: 's', audience: 'novapos-api', ttlSeconds: 5000 });
    expect(signed?.kid).toBe('k1');
    expect(signed?.expiresIn).toBe(900); // capped by maxTokenTTLSeconds
  });

  it('a reload asked while a read is under way reads again after it: a notification is never answered by an older read', async () => {
    const docs = k1Only();
    // The poll's read of the key set is slow: it returns what Vault held when it started.
    let release: () => void = () => {};
    let reads = 0;
    const source: KeysetSource = {
      readKeyset: async () => {
        reads++;
        const doc = docs.keyset;
        if (reads === 1) await new Promise<void>((r) => (release = r));
        return doc;
      },
      readKey: async (kid) => docs.keys[kid],
    };
    const ring = new KeyRing(source, { loaded: () => {}, failed: () => {} });
    const poll = ring.reload();
    // The operator publishes a new set and notifies while that read is still under way.
    const next = aKeysetDoc([k1.publicJwk, k2.publicJwk], 'k1', { nextKid: 'k2' });
    docs.keyset = next;
    const notified = ring.reload();
    release();
    await Promise.all([poll, notified]);
    expect(ring.status().keysetHash).toBe(next.keysetHash);
    expect(reads).toBe(2);
    // Reloads asked together while one read is under way share the one read after it.
    const a = ring.reload();
    const b = ring.reload();
    const c = ring.reload();
    await Promise.all([a, b, c]);
    expect(reads).toBe(4);
  });

  it('signs with the injected clock: iat and nbf at its now, exp a TTL later; a later issuedAt wins', async () => {
    const keys = {
      k1: { kid: 'k1', alg: 'ES256', state: 'active', privateJwk: k1.privateJwk, createdAt: 'x' },
    };
    const ring = new KeyRing(aSource({ keyset: aKeysetDoc([k1.publicJwk], 'k1'), keys }), {
      loaded: () => {},
      failed: () => {},
    });
    await ring.reload();
    const nowMs = Date.UTC(2030, 0, 1, 0, 0, 0, 900);
    const opts = { subject: 's', audience: 'novapos-api', ttlSeconds: 300, nowMs };
    const second = Math.floor(nowMs / 1000);
    const at = decodeJwt((await ring.sign({}, opts))?.token ?? '');
    expect(at).toMatchObject({ iat: second, nbf: second, exp: second + 300 });
    // The user's valid-after time (session revocation) in the future: issued then, not before.
    const later = decodeJwt((await ring.sign({}, { ...opts, issuedAt: second + 5 }))?.token ?? '');
    expect(later).toMatchObject({ iat: second + 5, exp: second + 305 });
  });
});
