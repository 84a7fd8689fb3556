import { CipherUnavailable } from '../domain/ports.js';
import type { AuthRepository } from './repo.js';
import { isEncrypted, type RewrappingCipher } from './transit-cipher.js';

/**
 * Seals the stored TOTP secrets with Vault transit: `plaintextOnly` encrypts the rows written before
 * encryption (run at every start: the migration of existing rows); otherwise every row is rewrapped to the
 * newest key version (after `transit/keys/<key>/rotate`; the plaintext stays in Vault). Each row is replaced
 * with check-and-set, so a concurrent enrollment is never overwritten. Returns how many values changed.
 */
export async function sealMfaSecrets(
  repo: AuthRepository,
  cipher: RewrappingCipher,
  opts: { plaintextOnly: boolean; batch?: number },
): Promise<{ sealed: number; skipped: number; failed: number }> {
  let after = '00000000-0000-0000-0000-000000000000';
  let sealed = 0;
  let skipped = 0;
  let failed = 0;
  let unavailable = 0;
  for (;;) {
    const rows = await repo.mfaSecretRows(after, opts.batch ?? 200);
    if (rows.length === 0) return { sealed, skipped, failed };
    for (const row of rows) {
      after = row.id;
      const owner = { tenantId: row.tenantId, userId: row.id };
      for (const [column, value] of [
        ['mfa_secret', row.secret],
        ['mfa_pending_secret', row.pending],
      ] as const) {
        if (value === null || (opts.plaintextOnly && isEncrypted(value))) continue;
        let next: string;
        try {
          next = await cipher.rewrap(value, owner);
        } catch (err) {
          // A row Vault refuses (e.g. a ciphertext copied from another user) is left as it is and counted;
          // Vault unreachable stops the run after a few tries (the caller reports it).
          failed++;
          if (err instanceof CipherUnavailable && err.reason === 'unreachable' && ++unavailable >= 3)
            throw err;
          continue;
        }
        if (next !== value && (await repo.replaceMfaSecretValue(row.id, column, value, next))) sealed++;
        else skipped++;
      }
    }
  }
}
