import { createHash } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';

/**
 * The signing-key documents in Vault KV v2 (docs/contracts.md, "Key-set document" and "Per-key secret"),
 * shared by the operator (writer) and the services (readers) so both compute the same hash.
 */
export interface KeysetDocument {
  readonly issuer: string;
  readonly audiences: string[];
  readonly algorithm: string;
  readonly jwks: JSONWebKeySet;
  readonly activeKid: string;
  readonly nextKid: string;
  readonly keysetHash: string;
  readonly jwksCacheTTLSeconds: number;
  readonly maxTokenTTLSeconds: number;
  readonly updatedAt: string;
}

export interface SigningKeySecret {
  readonly kid: string;
  readonly alg: string;
  readonly state: 'next' | 'active' | 'retired' | 'revoked';
  readonly privateJwk: JWK;
  readonly createdAt: string;
}

/**
 * Canonical JSON: object members sorted by name (UTF-16 order, as RFC 8785), arrays in their order, no
 * whitespace. Needed because Vault stores KV data in Go maps and returns object members sorted, so the
 * insertion order a writer used does not survive a round trip; only a canonical form hashes the same on
 * both sides. The values here are strings, numbers and booleans, for which JSON.stringify matches RFC 8785.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `keysetHash`: sha256 hex of the canonical JSON of `{ jwks, activeKid }` (keys array in the order written). */
export function computeKeysetHash(jwks: JSONWebKeySet, activeKid: string): string {
  return createHash('sha256').update(canonicalJson({ jwks, activeKid })).digest('hex');
}

/** The public members each key type keeps in a JWKS, besides kid, alg and use. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

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
