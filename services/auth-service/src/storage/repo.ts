import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from './db.js';

export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly requireMfa: boolean;
}

export interface User {
  readonly id: string;
  readonly tenantId: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly roles: string[];
  readonly mfaSecret: string | null;
  readonly mfaEnrolledAt: Date | null;
  readonly mfaLastTimeStep: number | null;
  readonly mfaPendingSecret: string | null;
  readonly mfaPendingCreatedAt: Date | null;
}

export interface RefreshTokenRow {
  readonly id: string;
  readonly familyId: string;
  readonly userId: string;
  readonly tenantId: string;
  readonly amr: string[];
  readonly expiresAt: Date;
  readonly familyExpiresAt: Date;
  readonly usedAt: Date | null;
  readonly revokedAt: Date | null;
}

export interface ApiKeyRow {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly prefix: string;
  readonly scopes: string[];
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

interface UserRecord {
  id: string;
  tenant_id: string;
  email: string;
  password_hash: string;
  roles: string[];
  mfa_secret: string | null;
  mfa_enrolled_at: Date | string | null;
  mfa_last_time_step: string | number | null;
  mfa_pending_secret: string | null;
  mfa_pending_created_at: Date | string | null;
}

const date = (v: Date | string | null): Date | null =>
  v === null ? null : v instanceof Date ? v : new Date(v);

function toUser(r: UserRecord): User {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    email: r.email,
    passwordHash: r.password_hash,
    roles: r.roles,
    mfaSecret: r.mfa_secret,
    mfaEnrolledAt: date(r.mfa_enrolled_at),
    mfaLastTimeStep: r.mfa_last_time_step === null ? null : Number(r.mfa_last_time_step),
    mfaPendingSecret: r.mfa_pending_secret,
    mfaPendingCreatedAt: date(r.mfa_pending_created_at),
  };
}

const USER_COLUMNS =
  'id, tenant_id, email, password_hash, roles, mfa_secret, mfa_enrolled_at, mfa_last_time_step, mfa_pending_secret, mfa_pending_created_at';

/** SQL for auth-service, one method per question the domain asks. */
export class AuthRepository {
  constructor(readonly db: Db) {}

  // --- tenants ---------------------------------------------------------------------------------------

  async getTenant(id: string): Promise<Tenant | undefined> {
    const { rows } = await this.db.query<{ id: string; name: string; require_mfa: boolean }>(
      'SELECT id, name, require_mfa FROM tenants WHERE id = $1',
      [id],
    );
    const r = rows[0];
    return r && { id: r.id, name: r.name, requireMfa: r.require_mfa };
  }

  async createTenant(id: string, name: string, requireMfa = false, q: Queryable = this.db): Promise<boolean> {
    const res = await q.query(
      'INSERT INTO tenants (id, name, require_mfa) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
      [id, name, requireMfa],
    );
    return res.rowCount > 0;
  }

  async setTenantRequireMfa(id: string, requireMfa: boolean): Promise<void> {
    await this.db.query('UPDATE tenants SET require_mfa = $2 WHERE id = $1', [id, requireMfa]);
  }

  /** Users and MFA-enrolled users per tenant (the auth_users / auth_mfa_enrolled_users gauges). */
  async countUsersByTenant(): Promise<{ tenantId: string; users: number; mfaEnrolled: number }[]> {
    const { rows } = await this.db.query<{ id: string; users: string; enrolled: string }>(
      `SELECT t.id, count(u.id) AS users, count(u.mfa_enrolled_at) AS enrolled
         FROM tenants t LEFT JOIN users u ON u.tenant_id = t.id GROUP BY t.id`,
    );
    return rows.map((r) => ({ tenantId: r.id, users: Number(r.users), mfaEnrolled: Number(r.enrolled) }));
  }

  // --- users -----------------------------------------------------------------------------------------

  async findUserByEmail(tenantId: string, email: string): Promise<User | undefined> {
    const { rows } = await this.db.query<UserRecord>(
      `SELECT ${USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2`,
      [tenantId, email],
    );
    return rows[0] && toUser(rows[0]);
  }

  async getUser(tenantId: string, id: string): Promise<User | undefined> {
    const { rows } = await this.db.query<UserRecord>(
      `SELECT ${USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id],
    );
    return rows[0] && toUser(rows[0]);
  }

  /** Inserts a user; `undefined` when the e-mail is taken in the tenant. */
  async createUser(
    u: { tenantId: string; email: string; passwordHash: string; roles: string[] },
    q: Queryable = this.db,
  ): Promise<string | undefined> {
    const id = randomUUID();
    const res = await q.query(
      `INSERT INTO users (id, tenant_id, email, password_hash, roles) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, email) DO NOTHING`,
      [id, u.tenantId, u.email, u.passwordHash, u.roles],
    );
    return res.rowCount > 0 ? id : undefined;
  }

  /**
   * Creates the first user of a tenant, only while it has none (POST /register-first). The tenant row is
   * locked so two concurrent bootstrap calls cannot both succeed.
   */
  async createFirstUser(u: {
    tenantId: string;
    email: string;
    passwordHash: string;
    roles: string[];
  }): Promise<string | undefined> {
    return this.db.transaction(async (tx) => {
      const t = await tx.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [u.tenantId]);
      if (t.rowCount === 0) return undefined;
      const any = await tx.query('SELECT 1 FROM users WHERE tenant_id = $1 LIMIT 1', [u.tenantId]);
      if (any.rowCount > 0) return undefined;
      return this.createUser(u, tx);
    });
  }

  async countTenants(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM tenants');
    return Number(rows[0]?.n ?? 0);
  }

  /** Stores a new password hash and revokes every refresh token of the user, in one transaction. */
  async changePassword(userId: string, hash: string, reason: string): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.query('UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', [userId, hash]);
      return this.revokeAllForUser(userId, reason, tx);
    });
  }

  async updatePasswordHash(userId: string, hash: string): Promise<void> {
    await this.db.query('UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', [
      userId,
      hash,
    ]);
  }

  async recordLoginSuccess(userId: string): Promise<void> {
    await this.db.query('UPDATE users SET last_login_at = now(), mfa_failed_attempts = 0 WHERE id = $1', [
      userId,
    ]);
  }

  async incrementMfaFailures(userId: string): Promise<void> {
    await this.db.query('UPDATE users SET mfa_failed_attempts = mfa_failed_attempts + 1 WHERE id = $1', [
      userId,
    ]);
  }

  /** Accepts a TOTP time step only if it is later than the last accepted one (atomic: no double use). */
  async claimTotpStep(userId: string, step: number): Promise<boolean> {
    const res = await this.db.query(
      `UPDATE users SET mfa_last_time_step = $2
        WHERE id = $1 AND (mfa_last_time_step IS NULL OR mfa_last_time_step < $2)`,
      [userId, step],
    );
    return res.rowCount > 0;
  }

  async setPendingMfaSecret(userId: string, secret: string): Promise<void> {
    await this.db.query(
      'UPDATE users SET mfa_pending_secret = $2, mfa_pending_created_at = now(), updated_at = now() WHERE id = $1',
      [userId, secret],
    );
  }

  /** Promotes the pending secret and stores the recovery code hashes, in one transaction. */
  async completeMfaEnrollment(
    userId: string,
    secret: string,
    step: number,
    recoveryCodeHashes: string[],
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const res = await tx.query(
        `UPDATE users SET mfa_secret = mfa_pending_secret, mfa_enrolled_at = now(), mfa_last_time_step = $3,
                mfa_pending_secret = NULL, mfa_pending_created_at = NULL, mfa_failed_attempts = 0, updated_at = now()
          WHERE id = $1 AND mfa_pending_secret = $2 AND mfa_enrolled_at IS NULL`,
        [userId, secret, step],
      );
      if (res.rowCount === 0) return false;
      await tx.query('DELETE FROM auth_recovery_codes WHERE user_id = $1', [userId]);
      for (const h of recoveryCodeHashes) {
        await tx.query('INSERT INTO auth_recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)', [
          randomUUID(),
          userId,
          h,
        ]);
      }
      return true;
    });
  }

  /**
   * Replaces every recovery code of an enrolled user with `recoveryCodeHashes`, in one transaction (the old
   * codes, used or not, stop working). False when the user has no MFA enrolled (any more).
   */
  async replaceRecoveryCodes(userId: string, recoveryCodeHashes: string[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const u = await tx.query(
        'SELECT id FROM users WHERE id = $1 AND mfa_secret IS NOT NULL AND mfa_enrolled_at IS NOT NULL FOR UPDATE',
        [userId],
      );
      if (u.rowCount === 0) return false;
      await tx.query('DELETE FROM auth_recovery_codes WHERE user_id = $1', [userId]);
      for (const h of recoveryCodeHashes) {
        await tx.query('INSERT INTO auth_recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)', [
          randomUUID(),
          userId,
          h,
        ]);
      }
      await tx.query('UPDATE users SET updated_at = now() WHERE id = $1', [userId]);
      return true;
    });
  }

  /**
   * Turns MFA off: removes the TOTP secret (and any pending one) and every recovery code, and revokes every
   * refresh token of the user, in one transaction. Returns how many tokens were revoked, `undefined` when
   * the user had no MFA enrolled.
   */
  async disableMfa(userId: string, reason: string): Promise<number | undefined> {
    return this.db.transaction(async (tx) => {
      const res = await tx.query(
        `UPDATE users SET mfa_secret = NULL, mfa_enrolled_at = NULL, mfa_last_time_step = NULL,
                mfa_pending_secret = NULL, mfa_pending_created_at = NULL, mfa_failed_attempts = 0, updated_at = now()
          WHERE id = $1 AND mfa_enrolled_at IS NOT NULL`,
        [userId],
      );
      if (res.rowCount === 0) return undefined;
      await tx.query('DELETE FROM auth_recovery_codes WHERE user_id = $1', [userId]);
      return this.revokeAllForUser(userId, reason, tx);
    });
  }

  /** Marks a recovery code used; false when it does not exist or was used already. */
  async consumeRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
    const res = await this.db.query(
      'UPDATE auth_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL',
      [userId, codeHash],
    );
    return res.rowCount > 0;
  }

  // --- login throttle --------------------------------------------------------------------------------

  async getThrottle(
    tenantId: string,
    subject: string,
  ): Promise<{ failures: number; lockedUntil: Date | null } | undefined> {
    const { rows } = await this.db.query<{ failures: number; locked_until: Date | string | null }>(
      'SELECT failures, locked_until FROM auth_login_throttle WHERE tenant_id = $1 AND subject = $2',
      [tenantId, subject],
    );
    const r = rows[0];
    return r && { failures: r.failures, lockedUntil: date(r.locked_until) };
  }

  /** Adds one failure and returns the new count. */
  async addThrottleFailure(tenantId: string, subject: string): Promise<number> {
    const { rows } = await this.db.query<{ failures: number }>(
      `INSERT INTO auth_login_throttle (tenant_id, subject, failures, last_failure_at) VALUES ($1, $2, 1, now())
       ON CONFLICT (tenant_id, subject)
       DO UPDATE SET failures = auth_login_throttle.failures + 1, last_failure_at = now()
       RETURNING failures`,
      [tenantId, subject],
    );
    return rows[0]?.failures ?? 1;
  }

  async lockThrottle(tenantId: string, subject: string, until: Date): Promise<void> {
    await this.db.query(
      'UPDATE auth_login_throttle SET locked_until = $3 WHERE tenant_id = $1 AND subject = $2',
      [tenantId, subject, until],
    );
  }

  /** Clears the failures and returns how many there were (the success-after-failures rule reads it). */
  async clearThrottle(tenantId: string, subject: string): Promise<number> {
    const { rows } = await this.db.query<{ failures: number }>(
      'DELETE FROM auth_login_throttle WHERE tenant_id = $1 AND subject = $2 RETURNING failures',
      [tenantId, subject],
    );
    return rows[0]?.failures ?? 0;
  }

  // --- refresh tokens --------------------------------------------------------------------------------

  async insertRefreshToken(
    t: {
      familyId: string;
      userId: string;
      tenantId: string;
      tokenHash: string;
      amr: string[];
      expiresAt: Date;
      familyExpiresAt: Date;
    },
    q: Queryable = this.db,
  ): Promise<string> {
    const id = randomUUID();
    await q.query(
      `INSERT INTO auth_refresh_tokens (id, family_id, user_id, tenant_id, token_hash, amr, expires_at, family_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [id, t.familyId, t.userId, t.tenantId, t.tokenHash, t.amr, t.expiresAt, t.familyExpiresAt],
    );
    return id;
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    const { rows } = await this.db.query<{
      id: string;
      family_id: string;
      user_id: string;
      tenant_id: string;
      amr: string[];
      expires_at: Date | string;
      family_expires_at: Date | string;
      used_at: Date | string | null;
      revoked_at: Date | string | null;
    }>(
      `SELECT id, family_id, user_id, tenant_id, amr, expires_at, family_expires_at, used_at, revoked_at
         FROM auth_refresh_tokens WHERE token_hash = $1`,
      [tokenHash],
    );
    const r = rows[0];
    return (
      r && {
        id: r.id,
        familyId: r.family_id,
        userId: r.user_id,
        tenantId: r.tenant_id,
        amr: r.amr,
        expiresAt: date(r.expires_at)!,
        familyExpiresAt: date(r.family_expires_at)!,
        usedAt: date(r.used_at),
        revokedAt: date(r.revoked_at),
      }
    );
  }

  /**
   * Exchanges a refresh token for the next one of its family in one transaction. `false` when the token
   * was used or revoked in the meantime (a concurrent presentation: treated as reuse by the caller).
   */
  async rotateRefreshToken(
    oldId: string,
    next: {
      familyId: string;
      userId: string;
      tenantId: string;
      tokenHash: string;
      amr: string[];
      expiresAt: Date;
      familyExpiresAt: Date;
    },
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const claimed = await tx.query(
        'UPDATE auth_refresh_tokens SET used_at = now() WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL',
        [oldId],
      );
      if (claimed.rowCount === 0) return false;
      const nextId = await this.insertRefreshToken(next, tx);
      await tx.query('UPDATE auth_refresh_tokens SET replaced_by = $2 WHERE id = $1', [oldId, nextId]);
      return true;
    });
  }

  /** Revokes every live token of a family; returns how many were revoked. */
  async revokeFamily(familyId: string, reason: string): Promise<number> {
    const res = await this.db.query(
      'UPDATE auth_refresh_tokens SET revoked_at = now(), revoked_reason = $2 WHERE family_id = $1 AND revoked_at IS NULL',
      [familyId, reason],
    );
    return res.rowCount;
  }

  async revokeAllForUser(userId: string, reason: string, q: Queryable = this.db): Promise<number> {
    const res = await q.query(
      'UPDATE auth_refresh_tokens SET revoked_at = now(), revoked_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL',
      [userId, reason],
    );
    return res.rowCount;
  }

  // --- API keys --------------------------------------------------------------------------------------

  async insertApiKey(k: {
    tenantId: string;
    createdBy: string;
    name: string;
    prefix: string;
    keyHash: string;
    scopes: string[];
    expiresAt: Date | null;
  }): Promise<ApiKeyRow> {
    const id = randomUUID();
    const { rows } = await this.db.query<{ created_at: Date | string }>(
      `INSERT INTO api_keys (id, tenant_id, created_by, name, prefix, key_hash, scopes, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at`,
      [id, k.tenantId, k.createdBy, k.name, k.prefix, k.keyHash, k.scopes, k.expiresAt],
    );
    return {
      id,
      tenantId: k.tenantId,
      name: k.name,
      prefix: k.prefix,
      scopes: k.scopes,
      createdAt: date(rows[0]!.created_at)!,
      expiresAt: k.expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    };
  }

  async listApiKeys(tenantId: string): Promise<ApiKeyRow[]> {
    const { rows } = await this.db.query<{
      id: string;
      tenant_id: string;
      name: string;
      prefix: string;
      scopes: string[];
      created_at: Date | string;
      expires_at: Date | string | null;
      last_used_at: Date | string | null;
      revoked_at: Date | string | null;
    }>(
      `SELECT id, tenant_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
         FROM api_keys WHERE tenant_id = $1 ORDER BY created_at`,
      [tenantId],
    );
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      name: r.name,
      prefix: r.prefix,
      scopes: r.scopes,
      createdAt: date(r.created_at)!,
      expiresAt: date(r.expires_at),
      lastUsedAt: date(r.last_used_at),
      revokedAt: date(r.revoked_at),
    }));
  }

  async revokeApiKey(tenantId: string, id: string): Promise<boolean> {
    const res = await this.db.query(
      'UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = $1 AND id = $2',
      [tenantId, id],
    );
    return res.rowCount > 0;
  }

  /** What the gateway does: the live key row for a prefix (documented for it in docs/auth-service.md). */
  async findLiveApiKeyByPrefix(
    prefix: string,
  ): Promise<{ id: string; tenantId: string; keyHash: string; scopes: string[] } | undefined> {
    const { rows } = await this.db.query<{
      id: string;
      tenant_id: string;
      key_hash: string;
      scopes: string[];
    }>(
      `SELECT id, tenant_id, key_hash, scopes FROM api_keys
        WHERE prefix = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [prefix],
    );
    const r = rows[0];
    return r && { id: r.id, tenantId: r.tenant_id, keyHash: r.key_hash, scopes: r.scopes };
  }
}
