import { exportJWK, generateKeyPair, type JWK } from 'jose';
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

  it('keeps the last good set when a reload fails, and never names key material in the error', async () => {
    const docs = {
      keyset: aKeysetDoc([k1.publicJwk], 'k1') as unknown,
      keys: {
        k1: { kid: 'k1', alg: 'ES256', state: 'active', privateJwk: k1.privateJwk, createdAt: 'x' },
      } as Record<string, unknown>,
      fail: false,
    };
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
});
