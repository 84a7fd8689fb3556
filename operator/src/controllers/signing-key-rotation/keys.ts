import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { publicJwkOf } from '../../../../lib/keyset.js';
import type { SigningAlgorithm } from '../../api/index.js';

/** Members of a JWK that are private key material (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export const DEFAULT_RSA_KEY_SIZE = 3072;

/** A freshly generated key: the private JWK goes to Vault only; the public JWK goes in the JWKS. */
export interface GeneratedKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
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
