import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SigningAlgorithm } from '../../api/index.js';

/** Members of a JWK that are private key material (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The public members each key type keeps in a JWKS, besides kid, alg and use. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

export const DEFAULT_RSA_KEY_SIZE = 3072;

/** A freshly generated key: the private JWK goes to Vault only; the public JWK goes in the JWKS. */
export interface GeneratedKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

/**
 * The public JWK of a key, as published: only the public members of its type plus kid, alg and use: sig.
 * Built by allow-list, so a private member can never slip into a JWKS.
 */
export function publicJwkOf(jwk: JWK, kid: string, alg: string): JWK {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''];
  if (!members) throw new Error(`unsupported key type ${String(jwk.kty)}`);
  const out: Record<string, unknown> = {};
  for (const m of members) {
    const v = (jwk as Record<string, unknown>)[m];
    if (typeof v !== 'string') throw new Error(`key ${kid}: public member ${m} missing`);
    out[m] = v;
  }
  return { ...(out as JWK), kid, alg, use: 'sig' };
}

/** RFC 7638 thumbprint (SHA-256, base64url) of the public key: the kid. Same key, same kid, everywhere. */
export function kidOf(publicJwk: JWK): Promise<string> {
  return calculateJwkThumbprint(publicJwk, 'sha256');
}

/**
 * Generates a key pair for `alg` (RS256/PS256: RSA of `keySize` bits, default 3072; ES256: P-256;
 * EdDSA: Ed25519) and derives its kid from the public key's thumbprint.
 */
export async function generateSigningKey(alg: SigningAlgorithm, keySize?: number): Promise<GeneratedKey> {
  const options =
    alg === 'RS256' || alg === 'PS256'
      ? { extractable: true, modulusLength: keySize ?? DEFAULT_RSA_KEY_SIZE }
      : alg === 'EdDSA'
        ? { extractable: true, crv: 'Ed25519' }
        : { extractable: true };
  const { privateKey } = await generateKeyPair(alg, options);
  const exported = await exportJWK(privateKey);
  const bare = publicJwkOf(exported, '', alg);
  const kid = await kidOf(bare);
  return {
    kid,
    alg,
    privateJwk: { ...exported, kid, alg },
    publicJwk: { ...bare, kid },
  };
}
