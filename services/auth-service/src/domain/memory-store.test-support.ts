import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import type { LockoutState } from './lockout.js';
import {
  type ApiKeyRow,
  type AuthStore,
  type BootstrapClaim,
  CipherUnavailable,
  type LoginFailureCounts,
  type MfaSecretCipher,
  type NewApiKey,
  type NewRefreshToken,
  type NewUserRecord,
  type RefreshTokenRow,
  type SecretOwner,
  type Tenant,
  type User,
} from './ports.js';

/**
 * The domain's stores in memory, for unit tests of the use cases without I/O. Honest stand-ins: each method
 * keeps the contract of its SQL in storage/repo.ts (the same conditions, the same answers), with the
 * injected clock where the SQL reads `now()`. `unitOfWork` rolls back on a throw (a snapshot of the state;
 * do not run failing units concurrently); a unit inside another joins it.
 */

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface StoredUser extends Mutable<User> {
  lastLoginAt: Date | null;
  mfaFailedAttempts: number;
}

interface StoredRefreshToken extends Mutable<RefreshTokenRow> {
  tokenHash: string;
  revokedReason: string | null;
  replacedBy: string | null;
  graceUsedAt: Date | null;
}

interface StoredApiKey extends Mutable<ApiKeyRow> {
  createdBy: string | null;
  keyHash: string;
}

interface FailureCount {
  failures: number;
  lastFailureAt: Date;
  lockedUntil: Date | null;
}

interface State {
  tenants: Map<string, Tenant>;
  users: Map<string, StoredUser>;
  recoveryCodes: { userId: string; codeHash: string; usedAt: Date | null }[];
  refreshTokens: Map<string, StoredRefreshToken>;
  /** Keyed `tenant|subject|source`; source '' is the account-wide count. */
  loginFailures: Map<string, FailureCount>;
  /** Keyed `tenant|subject|source`: the last successful sign-in from that address. */
  knownSources: Map<string, Date>;
  apiKeys: Map<string, StoredApiKey>;
  bootstrapTokens: Map<string, { usedAt: Date | null }>;
}

const emptyState = (): State => ({
  tenants: new Map(),
  users: new Map(),
  recoveryCodes: [],
  refreshTokens: new Map(),
  loginFailures: new Map(),
  knownSources: new Map(),
  apiKeys: new Map(),
  bootstrapTokens: new Map(),
});

const failureKey = (tenantId: string, subject: string, source: string) => `${tenantId}|${subject}|${source}`;

/** A copy the caller cannot change the store through (the SQL store returns fresh rows too). */
const copyUser = ({ lastLoginAt: _l, mfaFailedAttempts: _m, ...u }: StoredUser): User => ({
  ...u,
  roles: [...u.roles],
});

const copyToken = ({
  tokenHash: _h,
  revokedReason: _r,
  replacedBy: _b,
  graceUsedAt: _g,
  ...t
}: StoredRefreshToken): RefreshTokenRow => ({ ...t, amr: [...t.amr] });

const copyApiKey = ({ createdBy: _c, keyHash: _h, ...k }: StoredApiKey): ApiKeyRow => ({
  ...k,
  scopes: [...k.scopes],
});

export class MemoryAuthStore implements AuthStore {
  private state = emptyState();
  private unitDepth = 0;

  constructor(private readonly clock: Clock) {}

  private now(): Date {
    return new Date(this.clock.now());
  }

  async unitOfWork<T>(fn: () => Promise<T>): Promise<T> {
    if (this.unitDepth > 0) return fn();
    const before = structuredClone(this.state);
    this.unitDepth++;
    try {
      return await fn();
    } catch (err) {
      this.state = before;
      throw err;
    } finally {
      this.unitDepth--;
    }
  }

  // --- seeding and reading back (tests only) ----------------------------------------------------------

  addTenant(t: { id: string; name?: string; requireMfa?: boolean }): Tenant {
    const tenant = { id: t.id, name: t.name ?? t.id, requireMfa: t.requireMfa ?? false };
    this.state.tenants.set(t.id, tenant);
    return tenant;
  }

  /** A user as stored; `over` sets any column (an enrolled user: `mfaSecret` and `mfaEnrolledAt`). */
  addUser(u: NewUserRecord & Partial<User>): User {
    const stored: StoredUser = {
      id: randomUUID(),
      mfaSecret: null,
      mfaEnrolledAt: null,
      mfaLastTimeStep: null,
      mfaPendingSecret: null,
      mfaPendingCreatedAt: null,
      mfaPendingSession: null,
      ...u,
      roles: [...u.roles],
      lastLoginAt: null,
      mfaFailedAttempts: 0,
    };
    this.state.users.set(stored.id, stored);
    return copyUser(stored);
  }

  addRecoveryCodeHash(userId: string, codeHash: string): void {
    this.state.recoveryCodes.push({ userId, codeHash, usedAt: null });
  }

  /** Every refresh token of a user, in insertion order, with why it was revoked. */
  refreshTokensOf(userId: string): (RefreshTokenRow & { revokedReason: string | null })[] {
    return [...this.state.refreshTokens.values()]
      .filter((t) => t.userId === userId)
      .map((t) => ({ ...copyToken(t), revokedReason: t.revokedReason }));
  }

  /** The failure count of (subject, source); source '' is the account-wide one. */
  loginFailures(tenantId: string, subject: string, source = ''): number {
    return this.state.loginFailures.get(failureKey(tenantId, subject, source))?.failures ?? 0;
  }

  userStats(userId: string): { lastLoginAt: Date | null; mfaFailedAttempts: number } | undefined {
    const u = this.state.users.get(userId);
    return u && { lastLoginAt: u.lastLoginAt, mfaFailedAttempts: u.mfaFailedAttempts };
  }

  // --- tenants -----------------------------------------------------------------------------------------

  async getTenant(id: string): Promise<Tenant | undefined> {
    const t = this.state.tenants.get(id);
    return t && { ...t };
  }

  async setTenantRequireMfa(id: string, requireMfa: boolean): Promise<void> {
    const t = this.state.tenants.get(id);
    if (t) this.state.tenants.set(id, { ...t, requireMfa });
  }

  async countTenants(): Promise<number> {
    return this.state.tenants.size;
  }

  async tenantHasUsers(tenantId: string): Promise<boolean> {
    return [...this.state.users.values()].some((u) => u.tenantId === tenantId);
  }

  // --- users -------------------------------------------------------------------------------------------

  async findUserByEmail(tenantId: string, email: string): Promise<User | undefined> {
    const u = [...this.state.users.values()].find((x) => x.tenantId === tenantId && x.email === email);
    return u && copyUser(u);
  }

  async getUser(tenantId: string, id: string): Promise<User | undefined> {
    const u = this.state.users.get(id);
    return u && u.tenantId === tenantId ? copyUser(u) : undefined;
  }

  async createUser(u: NewUserRecord): Promise<string | undefined> {
    if (!this.state.tenants.has(u.tenantId)) throw new Error(`users.tenant_id: no tenant ${u.tenantId}`);
    if (await this.findUserByEmail(u.tenantId, u.email)) return undefined;
    return this.addUser(u).id;
  }

  async createFirstUser(u: NewUserRecord, bootstrap: BootstrapClaim): Promise<string | undefined> {
    if (!this.state.tenants.has(u.tenantId)) {
      if (this.state.tenants.size > 0) return undefined;
      this.addTenant({ id: u.tenantId });
    }
    if (await this.tenantHasUsers(u.tenantId)) return undefined;
    const token = this.state.bootstrapTokens.get(bootstrap.tokenHash);
    if (token ? token.usedAt !== null : !bootstrap.configured) return undefined;
    this.state.bootstrapTokens.set(bootstrap.tokenHash, { usedAt: this.now() });
    return this.createUser(u);
  }

  async bootstrapTokenUsable(tokenHash: string, configured: boolean): Promise<boolean> {
    const token = this.state.bootstrapTokens.get(tokenHash);
    return configured ? !token?.usedAt : token !== undefined && token.usedAt === null;
  }

  /** Issues a bootstrap token (its hash), as `npm run auth:seed -- --bootstrap-token` does. */
  insertBootstrapToken(tokenHash: string): void {
    this.state.bootstrapTokens.set(tokenHash, { usedAt: null });
  }

  async setUserRoles(tenantId: string, id: string, roles: string[]): Promise<boolean> {
    const u = this.state.users.get(id);
    if (!u || u.tenantId !== tenantId) return false;
    u.roles = [...roles];
    return true;
  }

  async deleteUser(tenantId: string, id: string): Promise<boolean> {
    const u = this.state.users.get(id);
    if (!u || u.tenantId !== tenantId) return false;
    // ON DELETE CASCADE: its refresh tokens and recovery codes; its API keys lose their creator.
    this.state.users.delete(id);
    for (const [tid, t] of this.state.refreshTokens)
      if (t.userId === id) this.state.refreshTokens.delete(tid);
    this.state.recoveryCodes = this.state.recoveryCodes.filter((c) => c.userId !== id);
    for (const k of this.state.apiKeys.values()) if (k.createdBy === id) k.createdBy = null;
    return true;
  }

  async updatePasswordHash(userId: string, hash: string): Promise<void> {
    const u = this.state.users.get(userId);
    if (u) u.passwordHash = hash;
  }

  async changePassword(userId: string, hash: string, reason: string): Promise<number> {
    await this.updatePasswordHash(userId, hash);
    return this.revokeAllForUser(userId, reason);
  }

  // --- MFA ---------------------------------------------------------------------------------------------

  async incrementMfaFailures(userId: string): Promise<void> {
    const u = this.state.users.get(userId);
    if (u) u.mfaFailedAttempts++;
  }

  async claimTotpStep(userId: string, step: number): Promise<boolean> {
    const u = this.state.users.get(userId);
    if (!u || (u.mfaLastTimeStep !== null && u.mfaLastTimeStep >= step)) return false;
    u.mfaLastTimeStep = step;
    return true;
  }

  async setPendingMfaSecret(
    userId: string,
    secret: string,
    sessionId: string,
    ttlSeconds: number,
    replace: boolean,
  ): Promise<boolean> {
    const u = this.state.users.get(userId);
    if (!u || u.mfaEnrolledAt !== null) return false;
    const expired =
      u.mfaPendingCreatedAt !== null &&
      u.mfaPendingCreatedAt.getTime() < this.clock.now() - ttlSeconds * 1000;
    if (!replace && u.mfaPendingSecret !== null && !expired) return false;
    u.mfaPendingSecret = secret;
    u.mfaPendingSession = sessionId;
    u.mfaPendingCreatedAt = this.now();
    return true;
  }

  async completeMfaEnrollment(
    userId: string,
    secret: string,
    step: number,
    recoveryCodeHashes: string[],
  ): Promise<boolean> {
    const u = this.state.users.get(userId);
    if (!u || u.mfaPendingSecret !== secret || u.mfaEnrolledAt !== null) return false;
    Object.assign(u, {
      mfaSecret: u.mfaPendingSecret,
      mfaEnrolledAt: this.now(),
      mfaLastTimeStep: step,
      mfaPendingSecret: null,
      mfaPendingCreatedAt: null,
      mfaPendingSession: null,
      mfaFailedAttempts: 0,
    });
    this.setRecoveryCodes(userId, recoveryCodeHashes);
    return true;
  }

  async replaceRecoveryCodes(userId: string, recoveryCodeHashes: string[]): Promise<boolean> {
    const u = this.state.users.get(userId);
    if (!u || u.mfaSecret === null || u.mfaEnrolledAt === null) return false;
    this.setRecoveryCodes(userId, recoveryCodeHashes);
    return true;
  }

  private setRecoveryCodes(userId: string, hashes: string[]): void {
    this.state.recoveryCodes = [
      ...this.state.recoveryCodes.filter((c) => c.userId !== userId),
      ...hashes.map((codeHash) => ({ userId, codeHash, usedAt: null })),
    ];
  }

  async disableMfa(userId: string, reason: string): Promise<number | undefined> {
    const u = this.state.users.get(userId);
    if (!u || u.mfaEnrolledAt === null) return undefined;
    // As the SQL: the pending session column is left as it is (nothing reads it without a pending secret).
    Object.assign(u, {
      mfaSecret: null,
      mfaEnrolledAt: null,
      mfaLastTimeStep: null,
      mfaPendingSecret: null,
      mfaPendingCreatedAt: null,
      mfaFailedAttempts: 0,
    });
    this.state.recoveryCodes = this.state.recoveryCodes.filter((c) => c.userId !== userId);
    return this.revokeAllForUser(userId, reason);
  }

  async consumeRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
    const code = this.state.recoveryCodes.find(
      (c) => c.userId === userId && c.codeHash === codeHash && c.usedAt === null,
    );
    if (!code) return false;
    code.usedAt = this.now();
    return true;
  }

  // --- sign-in lockout ---------------------------------------------------------------------------------

  async lockoutState(
    tenantId: string,
    subject: string,
    source: string,
    knownSourceDays: number,
  ): Promise<LockoutState> {
    const lastSuccess = this.state.knownSources.get(failureKey(tenantId, subject, source));
    return {
      pairLockedUntil:
        this.state.loginFailures.get(failureKey(tenantId, subject, source))?.lockedUntil ?? null,
      accountLockedUntil:
        this.state.loginFailures.get(failureKey(tenantId, subject, ''))?.lockedUntil ?? null,
      knownSource:
        lastSuccess !== undefined && lastSuccess.getTime() > this.clock.now() - knownSourceDays * 86_400_000,
    };
  }

  async addLoginFailure(
    tenantId: string,
    subject: string,
    source: string,
    resetSeconds: number,
  ): Promise<LoginFailureCounts> {
    const add = (src: string): number => {
      const key = failureKey(tenantId, subject, src);
      const row = this.state.loginFailures.get(key);
      const quiet = row && row.lastFailureAt.getTime() < this.clock.now() - resetSeconds * 1000;
      const failures = !row || quiet ? 1 : row.failures + 1;
      this.state.loginFailures.set(key, {
        failures,
        lastFailureAt: this.now(),
        lockedUntil: row?.lockedUntil ?? null,
      });
      return failures;
    };
    return { pair: add(source), account: add('') };
  }

  async lockLogin(tenantId: string, subject: string, source: string, until: Date): Promise<void> {
    const row = this.state.loginFailures.get(failureKey(tenantId, subject, source));
    if (!row) return;
    row.lockedUntil = new Date(Math.max(row.lockedUntil?.getTime() ?? until.getTime(), until.getTime()));
  }

  async recordLoginSourceSuccess(
    tenantId: string,
    subject: string,
    source: string,
    signedInUserId?: string,
  ): Promise<number> {
    const accountKey = failureKey(tenantId, subject, '');
    const previous = this.state.loginFailures.get(accountKey)?.failures ?? 0;
    this.state.loginFailures.delete(accountKey);
    this.state.loginFailures.delete(failureKey(tenantId, subject, source));
    this.state.knownSources.set(failureKey(tenantId, subject, source), this.now());
    const u = signedInUserId === undefined ? undefined : this.state.users.get(signedInUserId);
    if (u) {
      u.lastLoginAt = this.now();
      u.mfaFailedAttempts = 0;
    }
    return previous;
  }

  // --- refresh tokens ----------------------------------------------------------------------------------

  async insertRefreshToken(t: NewRefreshToken): Promise<string> {
    const id = randomUUID();
    this.state.refreshTokens.set(id, {
      ...t,
      id,
      amr: [...t.amr],
      usedAt: null,
      revokedAt: null,
      revokedReason: null,
      replacedBy: null,
      graceUsedAt: null,
    });
    return id;
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    const t = [...this.state.refreshTokens.values()].find((x) => x.tokenHash === tokenHash);
    return t && copyToken(t);
  }

  async rotateRefreshToken(oldId: string, next: NewRefreshToken): Promise<boolean> {
    const old = this.state.refreshTokens.get(oldId);
    if (!old || old.usedAt !== null || old.revokedAt !== null) return false;
    old.usedAt = this.now();
    old.replacedBy = await this.insertRefreshToken(next);
    return true;
  }

  async claimRefreshGrace(id: string, intervalSeconds: number): Promise<boolean> {
    if (intervalSeconds <= 0) return false;
    const t = this.state.refreshTokens.get(id);
    if (!t || t.usedAt === null || t.revokedAt !== null || t.graceUsedAt !== null) return false;
    if (t.usedAt.getTime() <= this.clock.now() - intervalSeconds * 1000) return false;
    const successor = t.replacedBy === null ? undefined : this.state.refreshTokens.get(t.replacedBy);
    if (successor && (successor.usedAt !== null || successor.revokedAt !== null)) return false;
    t.graceUsedAt = this.now();
    return true;
  }

  private revokeWhere(match: (t: StoredRefreshToken) => boolean, reason: string): number {
    let n = 0;
    for (const t of this.state.refreshTokens.values()) {
      if (t.revokedAt !== null || !match(t)) continue;
      t.revokedAt = this.now();
      t.revokedReason = reason;
      n++;
    }
    return n;
  }

  async revokeFamily(familyId: string, reason: string): Promise<number> {
    return this.revokeWhere((t) => t.familyId === familyId, reason);
  }

  async revokeAllForUser(userId: string, reason: string): Promise<number> {
    return this.revokeWhere((t) => t.userId === userId, reason);
  }

  // --- API keys ----------------------------------------------------------------------------------------

  async insertApiKey(k: NewApiKey): Promise<ApiKeyRow> {
    const stored: StoredApiKey = {
      id: randomUUID(),
      tenantId: k.tenantId,
      createdBy: k.createdBy,
      name: k.name,
      prefix: k.prefix,
      keyHash: k.keyHash,
      scopes: [...k.scopes],
      createdAt: this.now(),
      expiresAt: k.expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    };
    this.state.apiKeys.set(stored.id, stored);
    return copyApiKey(stored);
  }

  async listApiKeys(tenantId: string): Promise<ApiKeyRow[]> {
    return [...this.state.apiKeys.values()]
      .filter((k) => k.tenantId === tenantId)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .map(copyApiKey);
  }

  async revokeApiKey(tenantId: string, id: string): Promise<boolean> {
    const k = this.state.apiKeys.get(id);
    if (!k || k.tenantId !== tenantId) return false;
    k.revokedAt ??= this.now();
    return true;
  }
}

/**
 * The TOTP cipher in memory: a reversible "sealing" bound to its owner (a value copied to another user
 * does not open), and a switch that makes it unavailable as Vault down would.
 */
export class MemoryCipher implements MfaSecretCipher {
  available = true;

  private check(): void {
    if (!this.available) throw new CipherUnavailable('unreachable');
  }

  async encrypt(plaintext: string, owner: SecretOwner): Promise<string> {
    this.check();
    return `sealed:${owner.tenantId}:${owner.userId}:${Buffer.from(plaintext).toString('base64')}`;
  }

  async decrypt(stored: string, owner: SecretOwner): Promise<string> {
    this.check();
    const prefix = `sealed:${owner.tenantId}:${owner.userId}:`;
    if (!stored.startsWith('sealed:')) return stored; // stored before sealing
    if (!stored.startsWith(prefix)) throw new Error('sealed for another owner');
    return Buffer.from(stored.slice(prefix.length), 'base64').toString('utf8');
  }
}
