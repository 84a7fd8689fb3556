import { calculateJwkThumbprint, importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { publicJwkOf } from '../../../../lib/keyset.js';
import { generateSigningKey, PRIVATE_JWK_MEMBERS } from './keys.js';

describe('signing key generation', () => {
  it.each([
    ['RS256', 'RSA', 3072],
    ['PS256', 'RSA', 3072],
    ['ES256', 'EC', undefined],
    ['EdDSA', 'OKP', undefined],
  ] as const)(
    'makes a %s key (%s) whose kid is its RFC 7638 thumbprint and that signs and verifies',
    async (alg, kty, bits) => {
      const key = await generateSigningKey(alg);
      expect(key.publicJwk.kty).toBe(kty);
      if (bits) expect(Buffer.from(key.publicJwk.n!, 'base64url').length * 8).toBe(bits);
      expect(key.kid).toBe(await calculateJwkThumbprint(key.publicJwk, 'sha256'));
      expect(key.privateJwk).toMatchObject({ kid: key.kid, alg });
      expect(key.publicJwk).toMatchObject({ kid: key.kid, alg, use: 'sig' });
      for (const m of PRIVATE_JWK_MEMBERS) expect(key.publicJwk).not.toHaveProperty(m);
      const token = await new SignJWT({ sub: 'u' })
        .setProtectedHeader({ alg, kid: key.kid })
        .sign(await importJWK(key.privateJwk, alg));
      const { protectedHeader } = await jwtVerify(token, await importJWK(key.publicJwk, alg));
      expect(protectedHeader.kid).toBe(key.kid);
    },
  );

  it('honours keySize for RSA', async () => {
    const key = await generateSigningKey('RS256', 2048);
    expect(Buffer.from(key.publicJwk.n!, 'base64url').length * 8).toBe(2048);
  });

  it('builds a public JWK by allow-list: private members never pass', () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', d: 'secret', extra: 'z' };
    expect(publicJwkOf(jwk, 'k1', 'ES256')).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: 'xx',
      y: 'yy',
      kid: 'k1',
      alg: 'ES256',
      use: 'sig',
    });
    expect(() => publicJwkOf({ kty: 'oct', k: 'secret' }, 'k', 'HS256')).toThrow(/unsupported key type/);
  });
});
