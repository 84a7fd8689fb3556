/**
 * What the auth domain needs from the outside world, named for that need: the records it reads, the store
 * it asks (`AuthStore`) and the cipher that seals TOTP secrets (`MfaSecretCipher`). `storage/` implements
 * them (repo.ts on PostgreSQL or PGlite, transit-cipher.ts on Vault transit); the use cases' unit tests
 * use the in-memory ones of memory-store.test-support.ts. The domain imports nothing from `storage/` or
 * `routes/` (architecture.json, rule `auth-domain-imports-no-adapters`).
 */
import type { LockoutState } from './lockout.js';

// --- records -------------------------------------------------------------------------------------------

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
  /** The TOTP secret as stored: sealed by the MfaSecretCipher. */
  readonly mfaSecret: string | null;
  readonly mfaEnrolledAt: Date | null;
  readonly mfaLastTimeStep: number | null;
  readonly mfaPendingSecret: string | null;
  readonly mfaPendingCreatedAt: Date | null;
  /** The session (sid) that began the pending enrollment: only it completes (or restarts) it. */
  readonly mfaPendingSession: string | null;
}

/** A refresh token as stored (its hash is the lookup key and never comes back). */
export interface RefreshTokenRow {
  readonly id: string;
  readonly familyId: string;
  readonly userId: string;
  readonly tenantId: string;
  readonly amr: string[];
  /** The sign-in behind the session (the `auth_time` claim). */
  readonly authTime: Date;
  readonly expiresAt: Date;
  readonly familyExpiresAt: Date;
  readonly usedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** An API key as listed: no hash, no secret. */
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

// --- what the use cases write --------------------------------------------------------------------------

export interface NewUserRecord {
  readonly tenantId: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly roles: string[];
}

/** The bootstrap token presented to POST /register-first: its SHA-256, and whether it is the configured one. */
export interface BootstrapClaim {
  readonly tokenHash: string;
  readonly configured: boolean;
}

export interface NewRefreshToken {
  readonly familyId: string;
  readonly userId: string;
  readonly tenantId: string;
  readonly tokenHash: string;
  readonly amr: string[];
  readonly authTime: Date;
  readonly expiresAt: Date;
  readonly familyExpiresAt: Date;
}

export interface NewApiKey {
  readonly tenantId: string;
  readonly createdBy: string;
  readonly name: string;
  readonly prefix: string;
  /** The argon2 hash of the key; the key itself is never stored. */
  readonly keyHash: string;
  readonly scopes: string[];
  readonly expiresAt: Date | null;
}

/** Failures counted after one more: for the (account, address) pair and for the account over every address. */
export interface LoginFailureCounts {
  readonly pair: number;
  readonly account: number;
}

// --- the store -----------------------------------------------------------------------------------------

/**
 * Every question and change the use cases put to storage, and no more. Each method is atomic on its own;
 * `unitOfWork` makes several (and the events published meanwhile) one transaction.
 */
export interface AuthStore {
  /** Runs `fn`'s writes as one transaction: all commit or none does. A unit inside another joins it. */
  unitOfWork<T>(fn: () => Promise<T>): Promise<T>;

  // tenants
  getTenant(id: string): Promise<Tenant | undefined>;
  setTenantRequireMfa(id: string, requireMfa: boolean): Promise<void>;
  countTenants(): Promise<number>;
  tenantHasUsers(tenantId: string): Promise<boolean>;

  // users
  findUserByEmail(tenantId: string, email: string): Promise<User | undefined>;
  getUser(tenantId: string, id: string): Promise<User | undefined>;
  /** The new user's id; `undefined` when the e-mail is taken in the tenant. */
  createUser(u: NewUserRecord): Promise<string | undefined>;
  /**
   * The first user of a tenant (creating the tenant when there is none at all), spending the bootstrap
   * token; `undefined` when the tenant has users, another tenant exists, or the token is spent.
   */
  createFirstUser(u: NewUserRecord, bootstrap: BootstrapClaim): Promise<string | undefined>;
  /** A bootstrap token that may still be used: the configured one unless spent, or an issued unspent one. */
  bootstrapTokenUsable(tokenHash: string, configured: boolean): Promise<boolean>;
  setUserRoles(tenantId: string, id: string, roles: string[]): Promise<boolean>;
  /** The user, its refresh tokens and recovery codes; false when there was none. */
  deleteUser(tenantId: string, id: string): Promise<boolean>;
  updatePasswordHash(userId: string, hash: string): Promise<void>;
  /** A new password hash, and every refresh token of the user revoked; returns how many were. */
  changePassword(userId: string, hash: string, reason: string): Promise<number>;

  // MFA
  incrementMfaFailures(userId: string): Promise<void>;
  /** Accepts a TOTP time step only if later than the last accepted one (no double use). */
  claimTotpStep(userId: string, step: number): Promise<boolean>;
  /**
   * Stores a pending enrollment for session `sessionId`, unless one younger than `ttlSeconds` exists and
   * `replace` is false, or the user is enrolled. False if refused.
   */
  setPendingMfaSecret(
    userId: string,
    secret: string,
    sessionId: string,
    ttlSeconds: number,
    replace: boolean,
  ): Promise<boolean>;
  /** Promotes the pending secret (still `secret`) and stores the recovery code hashes. */
  completeMfaEnrollment(
    userId: string,
    secret: string,
    step: number,
    recoveryCodeHashes: string[],
  ): Promise<boolean>;
  /** Replaces every recovery code of an enrolled user; false when MFA is not enrolled. */
  replaceRecoveryCodes(userId: string, recoveryCodeHashes: string[]): Promise<boolean>;
  /** MFA off, codes gone, every refresh token revoked (how many); `undefined` when MFA was not enrolled. */
  disableMfa(userId: string, reason: string): Promise<number | undefined>;
  /** Spends a recovery code; false when it does not exist or was spent. */
  consumeRecoveryCode(userId: string, codeHash: string): Promise<boolean>;

  // sign-in lockout (domain/lockout.ts states the rules)
  lockoutState(
    tenantId: string,
    subject: string,
    source: string,
    knownSourceDays: number,
  ): Promise<LockoutState>;
  /** One failure for (subject, source) and account-wide; a count quiet for `resetSeconds` starts again at 1. */
  addLoginFailure(
    tenantId: string,
    subject: string,
    source: string,
    resetSeconds: number,
  ): Promise<LoginFailureCounts>;
  /** Locks (subject, source) until `until`, never shortening a lock; source '' is the account-wide lock. */
  lockLogin(tenantId: string, subject: string, source: string, until: Date): Promise<void>;
  /**
   * A success from `source`: its own and the account-wide failures cleared, the address known, and for a
   * sign-in the user's last login. Returns the account-wide failures counted before.
   */
  recordLoginSourceSuccess(
    tenantId: string,
    subject: string,
    source: string,
    signedInUserId?: string,
  ): Promise<number>;

  // refresh tokens (sessions)
  insertRefreshToken(t: NewRefreshToken): Promise<string>;
  findRefreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined>;
  /** Uses `oldId` and inserts its successor, atomically; false when it was used or revoked meanwhile. */
  rotateRefreshToken(oldId: string, next: NewRefreshToken): Promise<boolean>;
  /**
   * The reuse interval: true once for a token used less than `intervalSeconds` ago, not revoked, whose
   * successor is still unused (the immediately previous token of its family). False otherwise.
   */
  claimRefreshGrace(id: string, intervalSeconds: number): Promise<boolean>;
  /** Revokes every live token of a session; returns how many. */
  revokeFamily(familyId: string, reason: string): Promise<number>;
  /** Revokes every live token of a user; returns how many. */
  revokeAllForUser(userId: string, reason: string): Promise<number>;

  // API keys
  insertApiKey(k: NewApiKey): Promise<ApiKeyRow>;
  listApiKeys(tenantId: string): Promise<ApiKeyRow[]>;
  /** False when the tenant has no such key (an already revoked key stays revoked: true). */
  revokeApiKey(tenantId: string, id: string): Promise<boolean>;
}

// --- the cipher of TOTP secrets -----------------------------------------------------------------------

/** Whose secret a value is: the cipher binds each ciphertext to it (copied to another user, it fails). */
export interface SecretOwner {
  readonly tenantId: string;
  readonly userId: string;
}

/** Seals TOTP secrets at rest; decrypts one only to verify a code. */
export interface MfaSecretCipher {
  encrypt(plaintext: string, owner: SecretOwner): Promise<string>;
  /** The plaintext of a stored value; a legacy plaintext value (stored before sealing) is returned as is. */
  decrypt(stored: string, owner: SecretOwner): Promise<string>;
}

/** The cipher could not answer: MFA answers 503 mfa_unavailable (never a pass, never a fail). */
export class CipherUnavailable extends Error {
  override readonly name = 'CipherUnavailable';
  constructor(readonly reason: string) {
    super(`transit ${reason}`);
  }
}
