import { randomUUID } from 'node:crypto';
import { withAmbientTransactions } from '../../../../lib/ambient-tx.js';
import type { LockoutState } from '../domain/lockout.js';
import type {
  ApiKeyRow,
  AuthStore,
  BootstrapClaim,
  LoginFailureCounts,
  NewApiKey,
  NewRefreshToken,
  NewUserRecord,
  RefreshTokenRow,
  Tenant,
  User,
} from '../domain/ports.js';
import type { Db, Queryable } from './db.js';

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
  mfa_pending_session: string | null;
}

/** A timestamp column as a Date: a NOT NULL column gives a Date, a nullable one a Date or null. */
function date(v: Date | string): Date;
function date(v: Date | string | null): Date | null;
function date(v: Date | string | null): Date | null {
  return v === null ? null : v instanceof Date ? v : new Date(v);
}

/** The one row a statement always returns (an aggregate, `RETURNING`); a missing one is a bug, said so. */
function onlyRow<T>(rows: readonly T[], what: string): T {
  const row = rows[0];
  if (row === undefined) throw new Error(`${what}: the statement returned no row`);
  return row;
}

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
    mfaPendingSession: r.mfa_pending_session,
  };
}

const USER_COLUMNS =
  'id, tenant_id, email, password_hash, roles, mfa_secret, mfa_enrolled_at, mfa_last_time_step, mfa_pending_secret, mfa_pending_created_at, mfa_pending_session';

/**
 * SQL for auth-service, one method per question the domain asks: the domain's `AuthStore` (domain/ports.ts),
 * plus what the wiring, the seed and the sealing of TOTP secrets need.
 */
export class AuthRepository implements AuthStore {
  /** The service's Db with ambient transactions: inside `unitOfWork` every query here joins it. */
  readonly db: Db;

  constructor(db: Db) {
    this.db = withAmbientTransactions(db);
  }

  /**
   * Runs a use case's writes, and the events that record them (the outbox, through the same Db), in one
   * transaction: both commit or neither does (lib/ambient-tx.ts).
   */
  unitOfWork<T>(fn: () => Promise<T>): Promise<T> {
    return this.db.transaction(() => fn());
  }

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
  async createUser(u: NewUserRecord, q: Queryable = this.db): Promise<string | undefined> {
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
  async createFirstUser(u: NewUserRecord, bootstrap: BootstrapClaim): Promise<string | undefined> {
    return this.db.transaction(async (tx) => {
      // Serialises concurrent bootstraps (the tenant may not exist yet, so no row lock to take).
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('novapos-auth-register-first'))`);
      const t = await tx.query('SELECT id FROM tenants WHERE id = $1', [u.tenantId]);
      if (t.rowCount === 0) {
        const others = await tx.query('SELECT 1 FROM tenants LIMIT 1');
        if (others.rowCount > 0) return undefined;
        await this.createTenant(u.tenantId, u.tenantId, false, tx);
      }
      const any = await tx.query('SELECT 1 FROM users WHERE tenant_id = $1 LIMIT 1', [u.tenantId]);
      if (any.rowCount > 0) return undefined;
      const spent = bootstrap.configured
        ? await tx.query(
            `INSERT INTO auth_bootstrap_tokens (token_hash, used_at) VALUES ($1, now())
             ON CONFLICT (token_hash) DO UPDATE SET used_at = now() WHERE auth_bootstrap_tokens.used_at IS NULL`,
            [bootstrap.tokenHash],
          )
        : await tx.query(
            'UPDATE auth_bootstrap_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL',
            [bootstrap.tokenHash],
          );
      if (spent.rowCount === 0) return undefined;
      return this.createUser(u, tx);
    });
  }

  /** A bootstrap token that may still be used: the configured one unless spent, or an issued unspent one. */
  async bootstrapTokenUsable(tokenHash: string, configured: boolean): Promise<boolean> {
    const { rows } = await this.db.query<{ used_at: Date | string | null }>(
      'SELECT used_at FROM auth_bootstrap_tokens WHERE token_hash = $1',
      [tokenHash],
    );
    return configured ? !rows[0]?.used_at : rows.length === 1 && rows[0]?.used_at === null;
  }

  /** Issues a bootstrap token (stores its hash only); `npm run auth:seed -- --bootstrap-token` prints it. */
  async insertBootstrapToken(tokenHash: string): Promise<void> {
    await this.db.query('INSERT INTO auth_bootstrap_tokens (token_hash) VALUES ($1)', [tokenHash]);
  }

  async tenantHasUsers(tenantId: string): Promise<boolean> {
    const r = await this.db.query('SELECT 1 FROM users WHERE tenant_id = $1 LIMIT 1', [tenantId]);
    return r.rowCount > 0;
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

  async setUserRoles(tenantId: string, id: string, roles: string[]): Promise<boolean> {
    const res = await this.db.query(
      'UPDATE users SET roles = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2',
      [tenantId, id, roles],
    );
    return res.rowCount > 0;
  }

  /** Deletes a user; its refresh tokens and recovery codes go with it (ON DELETE CASCADE). */
  async deleteUser(tenantId: string, id: string): Promise<boolean> {
    const res = await this.db.query('DELETE FROM users WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
    return res.rowCount > 0;
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

  /**
   * Stores a pending enrollment for session `sessionId`, unless a pending enrollment younger than
   * `ttlSeconds` exists and `replace` is false (atomic: two racing starts cannot both win). False if refused.
   */
  async setPendingMfaSecret(
    userId: string,
    secret: string,
    sessionId: string,
    ttlSeconds: number,
    replace: boolean,
  ): Promise<boolean> {
    const res = await this.db.query(
      `UPDATE users SET mfa_pending_secret = $2, mfa_pending_session = $3, mfa_pending_created_at = now(),
              updated_at = now()
        WHERE id = $1 AND mfa_enrolled_at IS NULL
          AND ($5 OR mfa_pending_secret IS NULL
               OR mfa_pending_created_at < now() - make_interval(secs => $4::int))`,
      [userId, secret, sessionId, ttlSeconds, replace],
    );
    return res.rowCount > 0;
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
                mfa_pending_secret = NULL, mfa_pending_created_at = NULL, mfa_pending_session = NULL,
                mfa_failed_attempts = 0, updated_at = now()
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

  /** Users with a stored TOTP secret (active or pending), in id order after `afterId` (batches). */
  async mfaSecretRows(
    afterId: string,
    limit: number,
  ): Promise<{ id: string; tenantId: string; secret: string | null; pending: string | null }[]> {
    const { rows } = await this.db.query<{
      id: string;
      tenant_id: string;
      mfa_secret: string | null;
      mfa_pending_secret: string | null;
    }>(
      `SELECT id, tenant_id, mfa_secret, mfa_pending_secret FROM users
        WHERE (mfa_secret IS NOT NULL OR mfa_pending_secret IS NOT NULL) AND id > $1::uuid
        ORDER BY id LIMIT $2`,
      [afterId, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      secret: r.mfa_secret,
      pending: r.mfa_pending_secret,
    }));
  }

  /** Replaces a stored TOTP secret only if it is still `expected` (a concurrent enrollment wins). */
  async replaceMfaSecretValue(
    userId: string,
    column: 'mfa_secret' | 'mfa_pending_secret',
    expected: string,
    next: string,
  ): Promise<boolean> {
    const res = await this.db.query(`UPDATE users SET ${column} = $3 WHERE id = $1 AND ${column} = $2`, [
      userId,
      expected,
      next,
    ]);
    return res.rowCount > 0;
  }

  /** Marks a recovery code used; false when it does not exist or was used already. */
  async consumeRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
    const res = await this.db.query(
      'UPDATE auth_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL',
      [userId, codeHash],
    );
    return res.rowCount > 0;
  }

  // --- login lockout (domain/lockout.ts) -------------------------------------------------------------

  /** The locks that apply to `source` trying `subject`, and whether the account signed in from it before. */
  async lockoutState(
    tenantId: string,
    subject: string,
    source: string,
    knownSourceDays: number,
  ): Promise<LockoutState> {
    const { rows } = await this.db.query<{
      pair: Date | string | null;
      account: Date | string | null;
      known: boolean;
    }>(
      `SELECT
         (SELECT locked_until FROM auth_login_failures WHERE tenant_id = $1 AND subject = $2 AND source = $3) AS pair,
         (SELECT locked_until FROM auth_login_failures WHERE tenant_id = $1 AND subject = $2 AND source = '') AS account,
         EXISTS (SELECT 1 FROM auth_known_sources WHERE tenant_id = $1 AND subject = $2 AND source = $3
                   AND last_success_at > now() - make_interval(days => $4::int)) AS known`,
      [tenantId, subject, source, knownSourceDays],
    );
    const r = onlyRow(rows, 'lock state');
    return { pairLockedUntil: date(r.pair), accountLockedUntil: date(r.account), knownSource: r.known };
  }

  /**
   * Counts one failure for (subject, source) and for the subject account-wide (source ''); a count whose
   * last failure is older than `resetSeconds` starts again at 1. Returns both counts.
   */
  async addLoginFailure(
    tenantId: string,
    subject: string,
    source: string,
    resetSeconds: number,
  ): Promise<LoginFailureCounts> {
    const add = async (src: string) => {
      const { rows } = await this.db.query<{ failures: number }>(
        `INSERT INTO auth_login_failures (tenant_id, subject, source, failures, last_failure_at)
         VALUES ($1, $2, $3, 1, now())
         ON CONFLICT (tenant_id, subject, source) DO UPDATE SET
           failures = CASE WHEN auth_login_failures.last_failure_at < now() - make_interval(secs => $4::int)
                           THEN 1 ELSE auth_login_failures.failures + 1 END,
           last_failure_at = now()
         RETURNING failures`,
        [tenantId, subject, src, resetSeconds],
      );
      return rows[0]?.failures ?? 1;
    };
    return { pair: await add(source), account: await add('') };
  }

  /** Failures counted for (subject, source); source '' (default) is the account-wide count. */
  async countLoginFailures(tenantId: string, subject: string, source = ''): Promise<number> {
    const { rows } = await this.db.query<{ failures: number }>(
      'SELECT failures FROM auth_login_failures WHERE tenant_id = $1 AND subject = $2 AND source = $3',
      [tenantId, subject, source],
    );
    return rows[0]?.failures ?? 0;
  }

  /** Locks (subject, source) until `until`; source '' is the account-wide lock. Never shortens a lock. */
  async lockLogin(tenantId: string, subject: string, source: string, until: Date): Promise<void> {
    await this.db.query(
      `UPDATE auth_login_failures SET locked_until = greatest(coalesce(locked_until, $4), $4)
        WHERE tenant_id = $1 AND subject = $2 AND source = $3`,
      [tenantId, subject, source, until],
    );
  }

  /**
   * A successful sign-in (or password/MFA proof) from `source`: its own and the account-wide failures are
   * cleared (as Keycloak and Okta reset on success) and the address becomes known. Returns the account's
   * failures counted before (the success-after-failures rule reads it).
   */
  async recordLoginSourceSuccess(
    tenantId: string,
    subject: string,
    source: string,
    /** A sign-in: also the user's last_login_at and MFA failure count (recordLoginSuccess), same statement. */
    signedInUserId?: string,
  ): Promise<number> {
    // One statement (a login's hot path): read the count, clear it, remember the address.
    const { rows } = await this.db.query<{ failures: number }>(
      `WITH prev AS (
         SELECT failures FROM auth_login_failures WHERE tenant_id = $1 AND subject = $2 AND source = ''
       ), cleared AS (
         DELETE FROM auth_login_failures WHERE tenant_id = $1 AND subject = $2 AND source IN ($3, '')
       ), known AS (
         INSERT INTO auth_known_sources (tenant_id, subject, source, last_success_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (tenant_id, subject, source) DO UPDATE SET last_success_at = now()
       ), signed_in AS (
         UPDATE users SET last_login_at = now(), mfa_failed_attempts = 0 WHERE id = $4::uuid
       )
       SELECT coalesce((SELECT failures FROM prev), 0)::int AS failures`,
      [tenantId, subject, source, signedInUserId ?? null],
    );
    return Number(rows[0]?.failures ?? 0);
  }

  // --- refresh tokens --------------------------------------------------------------------------------

  async insertRefreshToken(t: NewRefreshToken, q: Queryable = this.db): Promise<string> {
    const id = randomUUID();
    await q.query(
      `INSERT INTO auth_refresh_tokens
         (id, family_id, user_id, tenant_id, token_hash, amr, auth_time, expires_at, family_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [id, t.familyId, t.userId, t.tenantId, t.tokenHash, t.amr, t.authTime, t.expiresAt, t.familyExpiresAt],
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
      auth_time: Date | string;
      expires_at: Date | string;
      family_expires_at: Date | string;
      used_at: Date | string | null;
      revoked_at: Date | string | null;
    }>(
      `SELECT id, family_id, user_id, tenant_id, amr, auth_time, expires_at, family_expires_at, used_at, revoked_at
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
        authTime: date(r.auth_time),
        expiresAt: date(r.expires_at),
        familyExpiresAt: date(r.family_expires_at),
        usedAt: date(r.used_at),
        revokedAt: date(r.revoked_at),
      }
    );
  }

  /**
   * Exchanges a refresh token for the next one of its family in one transaction. `false` when the token
   * was used or revoked in the meantime (a concurrent presentation: treated as reuse by the caller).
   */
  async rotateRefreshToken(oldId: string, next: NewRefreshToken): Promise<boolean> {
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

  /**
   * The reuse interval: marks a used token as presented once more, only if it was used less than
   * `intervalSeconds` ago, is not revoked, was not given a grace successor already, and its successor is
   * still unused (it is the immediately previous token of its family). False otherwise (reuse).
   */
  async claimRefreshGrace(id: string, intervalSeconds: number): Promise<boolean> {
    if (intervalSeconds <= 0) return false;
    const res = await this.db.query(
      `UPDATE auth_refresh_tokens o SET grace_used_at = now()
        WHERE o.id = $1 AND o.used_at IS NOT NULL AND o.revoked_at IS NULL AND o.grace_used_at IS NULL
          AND o.used_at > now() - make_interval(secs => $2::int)
          AND NOT EXISTS (SELECT 1 FROM auth_refresh_tokens n
                           WHERE n.id = o.replaced_by AND (n.used_at IS NOT NULL OR n.revoked_at IS NOT NULL))`,
      [id, intervalSeconds],
    );
    return res.rowCount > 0;
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

  async insertApiKey(k: NewApiKey): Promise<ApiKeyRow> {
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
      createdAt: date(onlyRow(rows, 'api key insert').created_at),
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
      createdAt: date(r.created_at),
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
