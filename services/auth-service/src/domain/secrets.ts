import { createHash, randomBytes } from 'node:crypto';

/** Random opaque tokens, recovery codes and API keys, and the hashes stored for them. */

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A refresh token: 256 random bits, `rt_` prefixed so a leaked one is recognisable in a scan. */
export function newRefreshToken(): string {
  return `rt_${randomBytes(32).toString('base64url')}`;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomBase32(chars: number): string {
  let out = '';
  for (const byte of randomBytes(chars)) out += BASE32.charAt(byte & 31);
  return out;
}

/** A recovery code: 16 base32 characters (80 bits) shown as XXXX-XXXX-XXXX-XXXX. */
export function newRecoveryCode(): string {
  const c = randomBase32(16);
  return [c.slice(0, 4), c.slice(4, 8), c.slice(8, 12), c.slice(12)].join('-');
}

/** `count` distinct recovery codes: what enrollment and regeneration hand out (shown once). */
export function newRecoveryCodes(count: number): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(newRecoveryCode());
  return [...codes];
}

/** Upper-cases and removes separators, so codes typed with or without dashes or spaces match. */
export function normalizeRecoveryCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

export function hashRecoveryCode(code: string): string {
  return sha256Hex(normalizeRecoveryCode(code));
}

export const API_KEY_PREFIX = 'npk';

/**
 * An API key `npk_<prefix>_<secret>`: the 12-character prefix (60 bits, lower-case base32) finds the key's
 * row, the 32-character secret (160 bits) is what the argon2id hash proves.
 */
export function newApiKey(): { prefix: string; key: string } {
  const prefix = randomBase32(12).toLowerCase();
  return { prefix, key: `${API_KEY_PREFIX}_${prefix}_${randomBase32(32).toLowerCase()}` };
}

/** The lookup prefix of a well-formed key, undefined otherwise. */
export function apiKeyPrefix(key: string): string | undefined {
  return /^npk_([a-z2-7]{12})_[a-z2-7]{32}$/.exec(key)?.[1];
}
