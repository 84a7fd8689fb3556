import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { EventPublisher } from '../../../../lib/events.js';
import { JwtVerificationError } from '../../../../lib/jwks-verifier.js';
import type { Logger } from '../../../../lib/log.js';
import type { SessionRevocationStore } from '../../../../lib/session-revocation.js';
import type { AuthConfig } from '../config.js';
import type { AuthMetrics } from '../metrics.js';
import type { AuthRepository, Tenant, User } from '../storage/repo.js';
import { CipherUnavailable, type MfaSecretCipher } from '../storage/transit-cipher.js';
import { AppError } from './errors.js';
import { type KeyRing, KeysetError } from './keyring.js';
import { accountLockoutSeconds, lockedForSeconds, lockoutSeconds } from './lockout.js';
import { isPrivileged, mayDisableMfa, mfaRequiredFor } from './mfa-policy.js';
import { checkPassword, MAX_PASSWORD_LENGTH } from './password-policy.js';
import type { PasswordHasher } from './passwords.js';
import { hashRecoveryCode, newApiKey, newRecoveryCodes, newRefreshToken, sha256Hex } from './secrets.js';
import {
  deviceFingerprint,
  type SuspiciousAlert,
  type SuspiciousLoginDetector,
  type SuspiciousWebhook,
} from './suspicious.js';
import { checkTotp, newTotpSecret, provisioningUri } from './totp.js';

/** Audience of the enrollment-only token: accepted by the MFA enrollment routes, by nothing else. */
export const ENROLLMENT_AUDIENCE = 'novapos-auth-mfa-enrollment';
export const ASSIGNABLE_ROLES = ['admin', 'manager', 'cashier', 'user', 'auditor'] as const;

/** Who is asking, from the transport: no express types in the domain. */
export interface RequestContext {
  readonly tenantId: string;
  readonly ip: string;
  readonly requestId: string;
  readonly traceId: string;
  readonly userAgent: string | undefined;
  readonly acceptLanguage: string | undefined;
}

/** An authenticated caller, from a verified access (or enrollment) token. */
export interface Principal {
  readonly userId: string;
  readonly tenantId: string;
  readonly roles: string[];
  readonly amr: string[];
  readonly enrollmentOnly: boolean;
  /** The session (refresh family) the token belongs to; for an enrollment token, its own id. */
  readonly sid: string | undefined;
  /** When the primary authentication behind the token happened (epoch seconds). */
  readonly authTime: number | undefined;
  /** Issued at (epoch seconds): compared with the user's "valid after" time. */
  readonly issuedAt: number;
}

/** The session an access token belongs to: its id and when the user last proved the password. */
interface SessionBinding {
  readonly sid: string;
  readonly authTime: Date;
}

export interface SessionTokens {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresIn: number;
  readonly refreshToken: string;
  readonly refreshExpiresAt: string;
}

export interface LoginResult extends SessionTokens {
  readonly user: { id: string; email: string; tenantId: string; roles: string[]; mfaEnrolled: boolean };
}

export interface AuthServiceDeps {
  readonly config: AuthConfig;
  readonly repo: AuthRepository;
  readonly hasher: PasswordHasher;
  readonly keyring: KeyRing;
  readonly metrics: AuthMetrics;
  readonly events: EventPublisher;
  readonly logger: Logger;
  readonly detector: SuspiciousLoginDetector;
  readonly webhook: SuspiciousWebhook;
  /** Encrypts TOTP secrets at rest (Vault transit); decrypted only to verify a code. */
  readonly mfaCipher: MfaSecretCipher;
  /** Per-user "valid after" times and ended sessions, shared with the gateway (lib/session-revocation.ts). */
  readonly sessions: SessionRevocationStore;
  /** The bootstrap token for POST /register-first from AUTH_BOOTSTRAP_TOKEN(_FILE), if any. */
  readonly bootstrapToken?: string | undefined;
}

const mfaEnrolled = (u: User) => !!(u.mfaSecret && u.mfaEnrolledAt);
const normalizeEmail = (email: string) => email.trim().toLowerCase();
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function str(body: Record<string, unknown>, key: string, max: number, required = true): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (required) throw new AppError('invalid_request', { field: key });
    return undefined;
  }
  if (typeof v !== 'string' || v.length > max || (required && v.length === 0))
    throw new AppError('invalid_request', { field: key });
  return v;
}

export class AuthService {
  private readonly ipLogin: RateLimiterMemory;
  private readonly accountLogin: RateLimiterMemory;
  private readonly ipMfa: RateLimiterMemory;
  private readonly ipRegisterFirst: RateLimiterMemory;
  private readonly bootstrapHash: Buffer | undefined;

  constructor(private readonly d: AuthServiceDeps) {
    const rl = d.config.rateLimits;
    this.ipLogin = new RateLimiterMemory({
      keyPrefix: 'login-ip',
      points: rl.loginPerIpPerMinute,
      duration: 60,
    });
    this.accountLogin = new RateLimiterMemory({
      keyPrefix: 'login-acct',
      points: rl.loginPerAccountPerMinute,
      duration: 60,
    });
    this.ipMfa = new RateLimiterMemory({ keyPrefix: 'mfa-ip', points: rl.mfaPerIpPerMinute, duration: 60 });
    this.ipRegisterFirst = new RateLimiterMemory({
      keyPrefix: 'register-first-ip',
      points: rl.registerFirstPerIpPer15Minutes,
      duration: 900,
    });
    this.bootstrapHash = d.bootstrapToken
      ? createHash('sha256').update(d.bootstrapToken).digest()
      : undefined;
  }

  // --- helpers ---------------------------------------------------------------------------------------

  private async consume(limiter: RateLimiterMemory, key: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        throw new AppError('rate_limited', undefined, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
      }
      throw res;
    }
  }

  /**
   * A use case's writes and the events recording them, in one transaction (the transactional outbox):
   * a crash or a failed outbox write between them leaves neither.
   */
  private atomically<T>(fn: () => Promise<T>): Promise<T> {
    return this.d.repo.unitOfWork(fn);
  }

  /** Limits for the MFA enrollment routes, per client IP. */
  async limitMfa(ctx: RequestContext): Promise<void> {
    await this.consume(this.ipMfa, ctx.ip);
  }

  private tenantLabel(tenant: Tenant | undefined): string {
    return tenant?.id ?? 'unknown';
  }

  private isPrivileged(roles: readonly string[]): boolean {
    return isPrivileged(roles, this.d.config.mfa);
  }

  private mfaRequired(user: User, tenant: Tenant): boolean {
    return mfaRequiredFor(user.roles, tenant.requireMfa, this.d.config.mfa);
  }

  /**
   * Publishes a security event. Awaited inside `atomically` so the outbox row joins the change's
   * transaction (a failed write then rolls the change back); elsewhere it is written on its own.
   */
  private event(
    topic: 'mfa' | 'audit',
    type: string,
    ctx: RequestContext,
    fields: {
      userId?: string | null;
      roles?: readonly string[];
      outcome?: string;
      [k: string]: unknown;
    } = {},
  ): Promise<void> {
    const { userId, roles, ...rest } = fields;
    return this.d.events.publish(
      topic === 'mfa' ? this.d.config.topics.mfaActivity : this.d.config.topics.audit,
      {
        type,
        trace_id: ctx.traceId,
        request_id: ctx.requestId,
        tenant_id: ctx.tenantId,
        user_id: userId ?? null,
        actor_role: roles ? (this.isPrivileged(roles) ? 'admin' : (roles[0] ?? 'user')) : null,
        ip: ctx.ip,
        ...rest,
      },
    );
  }

  private async suspicious(
    ctx: RequestContext,
    rule: SuspiciousAlert['rule'],
    userId: string | null,
    detail: Record<string, number>,
  ): Promise<void> {
    this.d.metrics.suspiciousLogins.inc({ rule });
    await this.event('audit', 'suspicious_login', ctx, { userId, outcome: rule, rule, ...detail });
    const alert: SuspiciousAlert = {
      rule,
      tenant: ctx.tenantId,
      userId,
      ip: ctx.ip,
      deviceFingerprint: deviceFingerprint(ctx.userAgent, ctx.acceptLanguage),
      traceId: ctx.traceId,
      detail,
    };
    void this.d.webhook
      .notify(alert)
      .then((r) => this.d.metrics.suspiciousWebhooks.inc({ result: r.result }));
  }

  private accessAudience(): string | string[] {
    const doc = this.d.keyring.loaded?.doc;
    if (!doc) throw new AppError('signing_unavailable');
    return doc.audiences.length === 1 ? doc.audiences[0]! : doc.audiences;
  }

  private async signAccess(
    user: User,
    amr: string[],
    grant: 'password' | 'refresh' | 'mfa_enrollment',
    session: SessionBinding,
  ) {
    // Issued at or after the user's valid-after time, so a token minted in the second of a revocation
    // is not revoked by it. Best effort: without an answer the token is issued at now.
    const validAfter = await this.d.sessions.validAfter(user.tenantId, user.id).catch(() => undefined);
    const signed = await this.d.keyring.sign(
      {
        tid: user.tenantId,
        roles: user.roles,
        amr,
        sid: session.sid,
        auth_time: Math.floor(session.authTime.getTime() / 1000),
      },
      {
        subject: user.id,
        audience: this.accessAudience(),
        ttlSeconds: this.d.config.tokens.accessTtlSeconds,
        issuedAt: validAfter,
      },
    );
    if (!signed) throw new AppError('signing_unavailable');
    this.d.metrics.tokensIssued.inc({ grant });
    return signed;
  }

  /** A new session: an access token and the first refresh token of a new family. */
  private async newSession(
    user: User,
    amr: string[],
    grant: 'password' | 'mfa_enrollment',
    authTime: Date,
  ): Promise<SessionTokens> {
    const familyId = randomUUID();
    const access = await this.signAccess(user, amr, grant, { sid: familyId, authTime });
    const t = this.d.config.tokens;
    const now = Date.now();
    const absoluteHours = this.isPrivileged(user.roles) ? t.adminRefreshTtlHours : t.refreshTtlHours;
    const familyExpiresAt = new Date(now + absoluteHours * 3_600_000);
    const expiresAt = new Date(Math.min(now + t.sessionIdleHours * 3_600_000, familyExpiresAt.getTime()));
    const refreshToken = newRefreshToken();
    await this.d.repo.insertRefreshToken({
      familyId,
      userId: user.id,
      tenantId: user.tenantId,
      tokenHash: sha256Hex(refreshToken),
      amr,
      authTime,
      expiresAt,
      familyExpiresAt,
    });
    return {
      accessToken: access.token,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
      refreshToken,
      refreshExpiresAt: expiresAt.toISOString(),
    };
  }

  // --- login -----------------------------------------------------------------------------------------

  /** A /login body the route refused (schema): counted like the domain's own invalid requests. */
  countInvalidLogin(): void {
    this.d.metrics.loginAttempts.inc({ tenant: 'unknown', outcome: 'invalid_request' });
  }

  async login(
    ctx: RequestContext,
    body: Record<string, unknown>,
  ): Promise<LoginResult | { enrollment: { enrollmentToken: string; expiresIn: number } }> {
    const m = this.d.metrics;
    let tenant: Tenant | undefined;
    let email: string;
    let password: string;
    let mfaCode: string | undefined;
    let recoveryCode: string | undefined;
    try {
      email = normalizeEmail(str(body, 'email', 254)!);
      password = str(body, 'password', MAX_PASSWORD_LENGTH)!;
      mfaCode = str(body, 'mfaCode', 16, false);
      recoveryCode = str(body, 'recoveryCode', 32, false);
      await this.consume(this.ipLogin, ctx.ip);
      tenant = await this.d.repo.getTenant(ctx.tenantId);
    } catch (err) {
      m.loginAttempts.inc({
        tenant: 'unknown',
        outcome: err instanceof AppError && err.code === 'rate_limited' ? 'rate_limited' : 'invalid_request',
      });
      throw err;
    }
    const tenantLabel = this.tenantLabel(tenant);
    const subject = sha256Hex(email);
    try {
      // Per (account, address): an attacker's budget is not the owner's.
      await this.consume(this.accountLogin, `${ctx.tenantId}|${subject}|${ctx.ip}`);
    } catch (err) {
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'rate_limited' });
      throw err;
    }

    if (!tenant) {
      // Same work and the same answer as a wrong password: tenants are not enumerable either.
      await this.d.hasher.verifyDummy(password);
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'invalid_credentials' });
      await this.event('audit', 'login_failed', ctx, { outcome: 'invalid_credentials' });
      throw new AppError('invalid_credentials');
    }

    const lockedFor = await this.lockedFor(ctx, tenant, subject);
    if (lockedFor > 0) {
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'locked' });
      await this.event('audit', 'login_locked', ctx, { outcome: 'locked' });
      throw new AppError('too_many_attempts', undefined, lockedFor);
    }

    const user = await this.d.repo.findUserByEmail(tenant.id, email);
    const check = user
      ? await this.d.hasher.verify(user.passwordHash, password)
      : { ok: await this.d.hasher.verifyDummy(password), needsRehash: false };
    if (!user || !check.ok) {
      await this.atomically(async () => {
        await this.recordFailure(ctx, tenant, subject, user?.id ?? null);
        await this.event('audit', 'login_failed', ctx, {
          userId: user?.id ?? null,
          outcome: 'invalid_credentials',
        });
      });
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'invalid_credentials' });
      throw new AppError('invalid_credentials');
    }
    if (check.needsRehash) {
      await this.d.repo.updatePasswordHash(user.id, await this.d.hasher.hash(password));
      this.d.logger.info(
        { event: 'password_rehashed', user_id: user.id, tenant_id: tenant.id },
        'password hash upgraded',
      );
    }

    const authTime = new Date();
    const amr = ['pwd'];
    const enrolled = mfaEnrolled(user);
    if (enrolled) {
      if (!mfaCode && !recoveryCode) {
        m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'mfa_required' });
        m.mfaEvents.inc({ tenant: tenantLabel, outcome: 'mfa_required', route: '/login' });
        await this.event('mfa', 'mfa_challenge', ctx, {
          userId: user.id,
          roles: user.roles,
          outcome: 'mfa_required',
        });
        throw new AppError('mfa_required');
      }
      // The spent code or time step and the event saying so commit together.
      const second = await this.atomically(async () => {
        const result = await this.checkSecondFactor(user, mfaCode, recoveryCode);
        if (!result.ok) {
          await this.d.repo.incrementMfaFailures(user.id);
          await this.recordFailure(ctx, tenant, subject, user.id);
        }
        await this.event('mfa', result.ok ? 'mfa_verified' : 'mfa_failed', ctx, {
          userId: user.id,
          roles: user.roles,
          outcome: result.outcome,
        });
        return result;
      });
      m.mfaEvents.inc({ tenant: tenantLabel, outcome: second.outcome, route: '/login' });
      if (!second.ok) {
        m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'mfa_invalid' });
        throw new AppError('mfa_invalid');
      }
      amr.push(...second.amr);
    } else if (this.mfaRequired(user, tenant)) {
      // Password right, but no second factor set up where one is required: only an enrollment token.
      const signed = await this.d.keyring.sign(
        {
          tid: tenant.id,
          roles: [],
          amr,
          scope: 'mfa_enrollment',
          // Its own session id: a pending enrollment is bound to the token (session) that began it.
          sid: `enr-${randomUUID()}`,
          auth_time: Math.floor(authTime.getTime() / 1000),
        },
        {
          subject: user.id,
          audience: ENROLLMENT_AUDIENCE,
          ttlSeconds: this.d.config.tokens.enrollmentTtlSeconds,
        },
      );
      if (!signed) throw new AppError('signing_unavailable');
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'mfa_enrollment_required' });
      m.tokensIssued.inc({ grant: 'mfa_enrollment' });
      await this.event('mfa', 'mfa_enrollment_required', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'mfa_enrollment_required',
      });
      return { enrollment: { enrollmentToken: signed.token, expiresIn: signed.expiresIn } };
    }

    // The session (refresh token row), the success bookkeeping and login_succeeded: one transaction.
    const session = await this.atomically(async () => {
      const previousFailures = await this.d.repo.recordLoginSourceSuccess(
        tenant.id,
        subject,
        ctx.ip,
        user.id,
      );
      const created = await this.newSession(user, amr, 'password', authTime);
      await this.event('audit', 'login_succeeded', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'success',
        amr,
      });
      const hit = this.d.detector.onSuccess(previousFailures);
      if (hit) await this.suspicious(ctx, hit.rule, user.id, { failures: hit.failures });
      return created;
    });
    m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'success' });
    return {
      ...session,
      user: {
        id: user.id,
        email: user.email,
        tenantId: user.tenantId,
        roles: user.roles,
        mfaEnrolled: enrolled,
      },
    };
  }

  private async checkSecondFactor(
    user: User,
    mfaCode: string | undefined,
    recoveryCode: string | undefined,
  ): Promise<{ ok: true; amr: string[]; outcome: string } | { ok: false; outcome: string }> {
    if (mfaCode) {
      const outcome = await this.claimTotp(user, mfaCode);
      if (outcome !== 'success') return { ok: false, outcome };
      return { ok: true, amr: ['otp', 'mfa'], outcome };
    }
    if (await this.d.repo.consumeRecoveryCode(user.id, hashRecoveryCode(recoveryCode!))) {
      return { ok: true, amr: ['mfa'], outcome: 'recovery_code_used' };
    }
    return { ok: false, outcome: 'mfa_invalid' };
  }

  /**
   * A stored TOTP secret's plaintext, from Vault transit. Vault unreachable: 503 mfa_unavailable (MFA
   * neither passes nor fails without it; the failure is counted as outcome `unavailable`).
   */
  private async totpSecret(user: User, stored: string, route: string): Promise<string> {
    try {
      return await this.d.mfaCipher.decrypt(stored, { tenantId: user.tenantId, userId: user.id });
    } catch (err) {
      if (!(err instanceof CipherUnavailable)) throw err;
      this.d.metrics.mfaEvents.inc({ tenant: user.tenantId, outcome: 'unavailable', route });
      this.d.logger.warn(
        { event: 'mfa_cipher_unavailable', reason: err.reason },
        'TOTP secret not decrypted',
      );
      throw new AppError('mfa_unavailable');
    }
  }

  /** Checks a TOTP code of an enrolled user and claims its time step, so each code works once. */
  private async claimTotp(
    user: User,
    code: string,
    route = '/login',
  ): Promise<'success' | 'replay' | 'mfa_invalid'> {
    const res = await checkTotp({
      secret: await this.totpSecret(user, user.mfaSecret!, route),
      code,
      windowSteps: this.d.config.mfa.totpWindowSteps,
      afterTimeStep: user.mfaLastTimeStep,
    });
    if (!res.valid) return res.replay ? 'replay' : 'mfa_invalid';
    // Claimed atomically: the same code presented twice at once succeeds once.
    if (!(await this.d.repo.claimTotpStep(user.id, res.timeStep))) return 'replay';
    return 'success';
  }

  private async recordFailure(
    ctx: RequestContext,
    tenant: Tenant,
    subject: string,
    userId: string | null,
  ): Promise<void> {
    const policy = this.d.config.lockout;
    const failures = await this.d.repo.addLoginFailure(
      tenant.id,
      subject,
      ctx.ip,
      policy.failureResetSeconds,
    );
    const locks = [
      { source: ctx.ip, scope: 'address', seconds: lockoutSeconds(failures.pair, policy) },
      { source: '', scope: 'account', seconds: accountLockoutSeconds(failures.account, policy) },
    ];
    for (const lock of locks) {
      if (lock.seconds === 0) continue;
      await this.d.repo.lockLogin(
        tenant.id,
        subject,
        lock.source,
        new Date(Date.now() + lock.seconds * 1000),
      );
      this.d.metrics.accountLockouts.inc({ tenant: tenant.id });
      await this.event('audit', 'account_locked', ctx, {
        userId,
        outcome: 'locked',
        scope: lock.scope,
        failures: lock.scope === 'account' ? failures.account : failures.pair,
        lock_seconds: lock.seconds,
      });
    }
    const spray = this.d.detector.onFailure(ctx.ip, `${tenant.id}|${subject}`);
    if (spray) await this.suspicious(ctx, spray.rule, null, { accounts: spray.accounts });
  }

  // --- refresh / logout ------------------------------------------------------------------------------

  async refresh(ctx: RequestContext, body: Record<string, unknown>): Promise<SessionTokens> {
    const presented = str(body, 'refreshToken', 128)!;
    const row = await this.d.repo.findRefreshToken(sha256Hex(presented));
    if (!row || row.tenantId !== ctx.tenantId) throw new AppError('refresh_token_invalid');
    const graceSeconds = this.d.config.tokens.refreshReuseIntervalSeconds;
    // Used already: within the reuse interval the immediately previous token gets one more successor
    // (a client that lost the answer, or two racing requests); any other reuse revokes the family.
    let grace = false;
    if (row.usedAt) {
      if (!(await this.d.repo.claimRefreshGrace(row.id, graceSeconds))) {
        await this.reuseDetected(ctx, row.familyId, row.userId);
        throw new AppError('refresh_token_reused');
      }
      grace = true;
    }
    if (row.revokedAt) throw new AppError('refresh_token_invalid');
    if (row.expiresAt.getTime() <= Date.now() || row.familyExpiresAt.getTime() <= Date.now()) {
      throw new AppError('refresh_token_expired');
    }
    const [user, tenant] = await Promise.all([
      this.d.repo.getUser(row.tenantId, row.userId),
      this.d.repo.getTenant(row.tenantId),
    ]);
    if (!user || !tenant) throw new AppError('refresh_token_invalid');
    if (this.mfaRequired(user, tenant) && !row.amr.includes('mfa')) {
      // The session predates an MFA requirement: it cannot be extended without MFA.
      await this.atomically(async () => {
        await this.d.repo.revokeFamily(row.familyId, 'mfa_required');
        await this.event('mfa', 'mfa_bypass_attempt', ctx, {
          userId: user.id,
          roles: user.roles,
          outcome: 'bypass_attempt',
          route: '/refresh',
        });
      });
      await this.revokeSessionTokens(row.familyId);
      this.d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'bypass_attempt', route: '/refresh' });
      throw new AppError('privileged_mfa_required');
    }
    const next = newRefreshToken();
    const expiresAt = new Date(
      Math.min(Date.now() + this.d.config.tokens.sessionIdleHours * 3_600_000, row.familyExpiresAt.getTime()),
    );
    const successor = {
      familyId: row.familyId,
      userId: user.id,
      tenantId: user.tenantId,
      tokenHash: sha256Hex(next),
      amr: row.amr,
      authTime: row.authTime,
      expiresAt,
      familyExpiresAt: row.familyExpiresAt,
    };
    const graceSuccessor = () =>
      this.atomically(async () => {
        await this.d.repo.insertRefreshToken(successor);
        await this.event('audit', 'refresh_token_reuse_within_interval', ctx, {
          userId: user.id,
          outcome: 'successor_issued',
          family_id: row.familyId,
        });
      });
    if (grace) await graceSuccessor();
    else if (!(await this.d.repo.rotateRefreshToken(row.id, successor))) {
      // A concurrent request rotated it first: the same grace applies.
      if (!(await this.d.repo.claimRefreshGrace(row.id, graceSeconds))) {
        await this.reuseDetected(ctx, row.familyId, row.userId);
        throw new AppError('refresh_token_reused');
      }
      await graceSuccessor();
    }
    // auth_time stays the sign-in's: a refresh is not a re-authentication (step-up).
    const access = await this.signAccess(user, row.amr, 'refresh', {
      sid: row.familyId,
      authTime: row.authTime,
    });
    return {
      accessToken: access.token,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
      refreshToken: next,
      refreshExpiresAt: expiresAt.toISOString(),
    };
  }

  private async reuseDetected(ctx: RequestContext, familyId: string, userId: string): Promise<void> {
    await this.atomically(async () => {
      const revoked = await this.d.repo.revokeFamily(familyId, 'reuse_detected');
      await this.event('audit', 'refresh_token_reuse_detected', ctx, {
        userId,
        outcome: 'family_revoked',
        family_id: familyId,
        revoked,
      });
    });
    await this.revokeSessionTokens(familyId);
    this.d.metrics.refreshTokenReuse.inc();
  }

  /** Ends the session of a refresh token. Answers the same whether or not the token was valid. */
  async logout(ctx: RequestContext, body: Record<string, unknown>): Promise<void> {
    const presented = str(body, 'refreshToken', 128)!;
    const row = await this.d.repo.findRefreshToken(sha256Hex(presented));
    if (!row || row.tenantId !== ctx.tenantId) return;
    await this.atomically(async () => {
      await this.d.repo.revokeFamily(row.familyId, 'logout');
      await this.event('audit', 'logout', ctx, {
        userId: row.userId,
        outcome: 'session_revoked',
        family_id: row.familyId,
      });
    });
    await this.revokeSessionTokens(row.familyId);
  }

  async logoutAll(ctx: RequestContext, p: Principal): Promise<number> {
    const revoked = await this.atomically(async () => {
      const n = await this.d.repo.revokeAllForUser(p.userId, 'logout_all');
      await this.event('audit', 'session_bulk_revocation', ctx, {
        userId: p.userId,
        roles: p.roles,
        outcome: 'revoked',
        revoked: n,
      });
      return n;
    });
    await this.revokeUserTokens(p.tenantId, p.userId);
    return revoked;
  }

  // --- tokens presented to this service ---------------------------------------------------------------

  /** Verifies a bearer token (access, or with `allowEnrollment` the enrollment-only token). */
  async authenticate(
    ctx: RequestContext,
    token: string | undefined,
    opts: { allowEnrollment?: boolean } = {},
  ): Promise<Principal> {
    if (!token) throw new AppError('unauthorized');
    const started = process.hrtime.bigint();
    const audiences = [
      ...(this.d.keyring.loaded?.doc.audiences ?? []),
      ...(opts.allowEnrollment ? [ENROLLMENT_AUDIENCE] : []),
    ];
    try {
      const { payload } = await this.d.keyring.verify(token, {
        audience: audiences,
        clockToleranceSeconds: this.d.config.tokens.clockToleranceSeconds,
        requiredClaims: ['exp', 'iat', 'sub', 'tid', 'jti'],
      });
      const enrollmentOnly =
        payload.aud === ENROLLMENT_AUDIENCE ||
        (Array.isArray(payload.aud) && payload.aud.includes(ENROLLMENT_AUDIENCE));
      const p: Principal = {
        userId: String(payload.sub),
        tenantId: String(payload['tid']),
        roles: Array.isArray(payload['roles']) ? (payload['roles'] as unknown[]).map(String) : [],
        amr: Array.isArray(payload['amr']) ? (payload['amr'] as unknown[]).map(String) : [],
        enrollmentOnly,
        sid: typeof payload['sid'] === 'string' ? payload['sid'] : undefined,
        authTime: typeof payload['auth_time'] === 'number' ? payload['auth_time'] : undefined,
        issuedAt: Number(payload.iat),
      };
      if (p.tenantId !== ctx.tenantId) throw new AppError('tenant_mismatch');
      await this.requireLiveSession(p);
      return p;
    } catch (err) {
      if (err instanceof AppError) {
        this.d.metrics.jwtValidationFailures.inc({ reason: err.code });
        throw err;
      }
      const reason =
        err instanceof JwtVerificationError
          ? err.reason
          : err instanceof KeysetError
            ? 'jwks_unavailable'
            : 'malformed';
      this.d.metrics.jwtValidationFailures.inc({ reason });
      throw new AppError('token_invalid');
    } finally {
      this.d.metrics.jwtValidationDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /**
   * Session-bound tokens: a token of a session that ended, or issued before the user's valid-after time
   * (logout-all, password change, MFA disable, role change, deletion), authorises nothing from that moment.
   * Fails closed: when the store cannot answer, 503 session_check_unavailable.
   */
  private async requireLiveSession(p: Principal): Promise<void> {
    let revoked: boolean;
    try {
      revoked = await this.d.sessions.isRevoked({
        tenant: p.tenantId,
        userId: p.userId,
        sid: p.sid,
        issuedAt: p.issuedAt,
      });
    } catch {
      throw new AppError('session_check_unavailable');
    }
    if (revoked) throw new AppError('session_revoked');
  }

  /** Every token of the user issued until now stops working, here and at the gateway. */
  private async revokeUserTokens(tenantId: string, userId: string): Promise<void> {
    try {
      await this.d.sessions.revokeUser(tenantId, userId);
    } catch {
      // The sessions are revoked in the database already; the caller retries for the tokens.
      throw new AppError('session_check_unavailable');
    }
  }

  private async revokeSessionTokens(sid: string): Promise<void> {
    try {
      await this.d.sessions.revokeSession(sid);
    } catch {
      throw new AppError('session_check_unavailable');
    }
  }

  /**
   * Step-up (OpenID Connect `max_age` / Okta's re-authentication for sensitive actions): the primary
   * authentication behind the token must be at most STEP_UP_MAX_AGE_SECONDS old. An enrollment-only token
   * is minted at the password check and lives shorter than that window's default, so it passes.
   */
  requireRecentAuthentication(p: Principal): void {
    if (p.enrollmentOnly) return;
    const age = Date.now() / 1000 - (p.authTime ?? 0);
    if (p.authTime === undefined || age > this.d.config.stepUpMaxAgeSeconds)
      throw new AppError('reauthentication_required');
  }

  /** Admin role and a session established with MFA; without MFA it counts as a bypass attempt. */
  requirePrivileged(ctx: RequestContext, p: Principal, route: string): void {
    if (!p.roles.includes('admin')) throw new AppError('forbidden');
    if (!p.amr.includes('mfa')) {
      this.d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'bypass_attempt', route });
      void this.event('mfa', 'mfa_bypass_attempt', ctx, {
        userId: p.userId,
        roles: p.roles,
        outcome: 'bypass_attempt',
        route,
      });
      throw new AppError('privileged_mfa_required');
    }
  }

  // --- registration ----------------------------------------------------------------------------------

  private async newUserFields(body: Record<string, unknown>, roles: string[]) {
    const email = normalizeEmail(str(body, 'email', 254)!);
    if (!EMAIL_RE.test(email)) throw new AppError('invalid_request', { field: 'email' });
    const password = str(body, 'password', MAX_PASSWORD_LENGTH + 1)!;
    const issues = checkPassword(password, { minLength: this.d.config.passwordMinLength, email });
    if (issues.length > 0) throw new AppError('weak_password', { issues });
    return { email, passwordHash: await this.d.hasher.hash(password), roles };
  }

  /**
   * The first account of a tenant (an admin), to bootstrap an empty installation. Off unless
   * ALLOW_REGISTER_FIRST, and then only with a one-time bootstrap token (AUTH_BOOTSTRAP_TOKEN(_FILE), or one
   * issued by `npm run auth:seed -- --bootstrap-token`). Every check that costs nothing runs before the argon2
   * hash, under its own strict per-address limit, and every refusal is the same 403 registration_closed
   * (whether the tenant exists, has users, or the token is wrong): no tenant enumeration.
   */
  async registerFirst(
    ctx: RequestContext,
    body: Record<string, unknown>,
    bootstrapToken: string | undefined,
  ) {
    await this.consume(this.ipRegisterFirst, ctx.ip);
    const closed = () => new AppError('registration_closed');
    if (!this.d.config.allowRegisterFirst || !bootstrapToken || bootstrapToken.length > 256) throw closed();
    const presented = createHash('sha256').update(bootstrapToken).digest();
    const configured = this.bootstrapHash !== undefined && timingSafeEqual(presented, this.bootstrapHash);
    const tokenHash = presented.toString('hex');
    if (!(await this.d.repo.bootstrapTokenUsable(tokenHash, configured))) throw closed();
    const tenant = await this.d.repo.getTenant(ctx.tenantId);
    if (tenant ? await this.d.repo.tenantHasUsers(tenant.id) : (await this.d.repo.countTenants()) > 0)
      throw closed();
    const fields = await this.newUserFields(body, ['admin']);
    const id = await this.atomically(async () => {
      const created = await this.d.repo.createFirstUser(
        { tenantId: ctx.tenantId, ...fields },
        { tokenHash, configured },
      );
      if (created)
        await this.event('audit', 'user_registered', ctx, {
          userId: created,
          roles: ['admin'],
          outcome: 'first_admin',
        });
      return created;
    });
    if (!id) throw closed();
    return { id, email: fields.email, tenantId: ctx.tenantId, roles: fields.roles };
  }

  async register(ctx: RequestContext, p: Principal, body: Record<string, unknown>) {
    this.requirePrivileged(ctx, p, '/register');
    const rolesIn = body['roles'] ?? ['user'];
    if (
      !Array.isArray(rolesIn) ||
      rolesIn.length === 0 ||
      !rolesIn.every((r) => (ASSIGNABLE_ROLES as readonly unknown[]).includes(r))
    ) {
      throw new AppError('invalid_request', { field: 'roles', allowed: ASSIGNABLE_ROLES });
    }
    const fields = await this.newUserFields(body, [...new Set(rolesIn as string[])]);
    const id = await this.atomically(async () => {
      const created = await this.d.repo.createUser({ tenantId: ctx.tenantId, ...fields });
      if (created)
        await this.event('audit', 'user_registered', ctx, {
          userId: p.userId,
          roles: p.roles,
          outcome: 'created',
          created_user_id: created,
        });
      return created;
    });
    if (!id) throw new AppError('email_taken');
    return { id, email: fields.email, tenantId: ctx.tenantId, roles: fields.roles };
  }

  // --- MFA enrollment --------------------------------------------------------------------------------

  async mfaEnrollStart(ctx: RequestContext, p: Principal, body: Record<string, unknown>, route: string) {
    const password = str(body, 'password', MAX_PASSWORD_LENGTH, false);
    this.requireRecentAuthentication(p);
    const acct = await this.account(p);
    const { user } = acct;
    if (user.mfaEnrolledAt) throw new AppError('mfa_already_enrolled');
    const secret = newTotpSecret();
    let sealed: string;
    try {
      sealed = await this.d.mfaCipher.encrypt(secret, { tenantId: user.tenantId, userId: user.id });
    } catch (err) {
      if (!(err instanceof CipherUnavailable)) throw err;
      this.d.metrics.mfaEvents.inc({ tenant: user.tenantId, outcome: 'unavailable', route });
      throw new AppError('mfa_unavailable');
    }
    const ttl = this.d.config.tokens.enrollmentTtlSeconds;
    // A live pending enrollment (younger than the enrollment token's lifetime) is not replaced, unless a
    // full session proves the password again; an enrollment-only token never replaces one.
    const started = () =>
      this.event('mfa', 'mfa_enrollment_started', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'enrollment_started',
      });
    let set = await this.atomically(async () => {
      const ok = await this.d.repo.setPendingMfaSecret(user.id, sealed, p.sid ?? '', ttl, false);
      if (ok) await started();
      return ok;
    });
    if (!set && password !== undefined && !p.enrollmentOnly) {
      await this.refuseIfLocked(ctx, acct, route);
      if (!(await this.d.hasher.verify(user.passwordHash, password)).ok)
        await this.mfaFailure(ctx, acct, 'invalid_credentials', route);
      set = await this.atomically(async () => {
        const ok = await this.d.repo.setPendingMfaSecret(user.id, sealed, p.sid ?? '', ttl, true);
        if (ok) await started();
        return ok;
      });
    }
    if (!set) {
      this.d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'enrollment_pending', route });
      await this.event('mfa', 'mfa_enrollment_refused', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'enrollment_pending',
      });
      throw new AppError('mfa_enrollment_pending');
    }
    this.d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'enrollment_started', route });
    return {
      secret,
      otpauthUri: provisioningUri({ issuer: this.d.config.mfa.issuerLabel, account: user.email, secret }),
    };
  }

  async mfaEnrollComplete(ctx: RequestContext, p: Principal, body: Record<string, unknown>, route: string) {
    const code = str(body, 'code', 16)!;
    this.requireRecentAuthentication(p);
    const user = await this.d.repo.getUser(p.tenantId, p.userId);
    if (!user) throw new AppError('token_invalid');
    if (user.mfaEnrolledAt) throw new AppError('mfa_already_enrolled');
    const pendingFor = Date.now() - (user.mfaPendingCreatedAt?.getTime() ?? 0);
    if (
      !user.mfaPendingSecret ||
      user.mfaPendingSession !== (p.sid ?? '') ||
      pendingFor > this.d.config.tokens.enrollmentTtlSeconds * 1000
    )
      throw new AppError('mfa_not_started');
    const res = await checkTotp({
      secret: await this.totpSecret(user, user.mfaPendingSecret, route),
      code,
      windowSteps: this.d.config.mfa.totpWindowSteps,
    });
    if (!res.valid) {
      await this.atomically(async () => {
        await this.d.repo.incrementMfaFailures(user.id);
        await this.event('mfa', 'mfa_failed', ctx, {
          userId: user.id,
          roles: user.roles,
          outcome: 'mfa_invalid',
          route,
        });
      });
      this.d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'mfa_invalid', route });
      throw new AppError('mfa_invalid');
    }
    const recoveryCodes = newRecoveryCodes(this.d.config.mfa.backupCodesCount);
    const pendingSecret = user.mfaPendingSecret;
    const done = await this.atomically(async () => {
      const ok = await this.d.repo.completeMfaEnrollment(
        user.id,
        pendingSecret,
        res.timeStep,
        recoveryCodes.map(hashRecoveryCode),
      );
      if (ok)
        await this.event('mfa', 'mfa_enrolled', ctx, {
          userId: user.id,
          roles: user.roles,
          outcome: 'enrolled',
        });
      return ok;
    });
    if (!done) throw new AppError('mfa_not_started');
    this.d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'enrolled', route });
    // After the required-enrollment flow the user is signed in, with MFA.
    const session = p.enrollmentOnly
      ? await this.newSession(
          { ...user, mfaEnrolledAt: new Date() },
          ['pwd', 'otp', 'mfa'],
          'mfa_enrollment',
          new Date((p.authTime ?? Math.floor(Date.now() / 1000)) * 1000),
        )
      : undefined;
    return { recoveryCodes, ...(session ?? {}) };
  }

  // --- account self-service: password change, recovery codes, MFA disable --------------------------

  /** The caller's own account and tenant (a deleted user's token authorises nothing). */
  private async account(p: Principal): Promise<{ user: User; tenant: Tenant; subject: string }> {
    const [user, tenant] = await Promise.all([
      this.d.repo.getUser(p.tenantId, p.userId),
      this.d.repo.getTenant(p.tenantId),
    ]);
    if (!user || !tenant) throw new AppError('token_invalid');
    // The login lockout's subject: the account's failures here and at /login share one counter.
    return { user, tenant, subject: sha256Hex(user.email) };
  }

  /** Seconds the account stays locked (the login lockout), 0 when it is not locked. */
  private async lockedFor(ctx: RequestContext, tenant: Tenant, subject: string): Promise<number> {
    const state = await this.d.repo.lockoutState(
      tenant.id,
      subject,
      ctx.ip,
      this.d.config.lockout.knownSourceDays,
    );
    return lockedForSeconds(state, Date.now());
  }

  /** The MFA account routes need MFA enrolled. */
  private requireEnrolled(acct: { user: User; tenant: Tenant }, route: string): void {
    if (mfaEnrolled(acct.user)) return;
    this.d.metrics.mfaEvents.inc({ tenant: acct.tenant.id, outcome: 'not_enrolled', route });
    throw new AppError('mfa_not_enrolled');
  }

  /** A locked account (the login lockout) cannot try codes on the MFA account routes either. */
  private async refuseIfLocked(
    ctx: RequestContext,
    acct: { user: User; tenant: Tenant; subject: string },
    route: string,
  ): Promise<void> {
    const locked = await this.lockedFor(ctx, acct.tenant, acct.subject);
    if (locked === 0) return;
    this.d.metrics.mfaEvents.inc({ tenant: acct.tenant.id, outcome: 'locked', route });
    await this.event('mfa', 'mfa_failed', ctx, {
      userId: acct.user.id,
      roles: acct.user.roles,
      outcome: 'locked',
      route,
    });
    throw new AppError('too_many_attempts', undefined, locked);
  }

  /**
   * A failed second-factor check on an account route: counted like a failed MFA login (the user's MFA
   * failures, the durable lockout, `auth_mfa_events_total`, `mfa_failed`), then refused.
   */
  private async mfaFailure(
    ctx: RequestContext,
    acct: { user: User; tenant: Tenant; subject: string },
    outcome: 'mfa_invalid' | 'replay' | 'invalid_credentials',
    route: string,
  ): Promise<never> {
    const { user, tenant, subject } = acct;
    await this.atomically(async () => {
      await this.d.repo.incrementMfaFailures(user.id);
      await this.recordFailure(ctx, tenant, subject, user.id);
      await this.event('mfa', 'mfa_failed', ctx, { userId: user.id, roles: user.roles, outcome, route });
    });
    this.d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome, route });
    throw new AppError(outcome === 'invalid_credentials' ? 'invalid_credentials' : 'mfa_invalid');
  }

  /**
   * POST /password/change: the current password proves the caller (a wrong one counts toward the login
   * lockout), the new one must pass the policy and differ; every session of the user ends.
   */
  async changePassword(
    ctx: RequestContext,
    p: Principal,
    body: Record<string, unknown>,
  ): Promise<{ revokedSessions: number }> {
    const current = str(body, 'currentPassword', MAX_PASSWORD_LENGTH)!;
    const next = str(body, 'newPassword', MAX_PASSWORD_LENGTH + 1)!;
    this.requireRecentAuthentication(p);
    const { user, tenant, subject } = await this.account(p);
    const count = (outcome: string) => this.d.metrics.passwordChanges.inc({ tenant: tenant.id, outcome });
    const failed = (outcome: string) =>
      this.event('audit', 'password_change_failed', ctx, { userId: user.id, roles: user.roles, outcome });
    try {
      // The login limits: guessing a password here costs the same budget as at /login.
      await this.consume(this.ipLogin, ctx.ip);
      await this.consume(this.accountLogin, `${tenant.id}|${subject}|${ctx.ip}`);
    } catch (err) {
      count('rate_limited');
      throw err;
    }
    const locked = await this.lockedFor(ctx, tenant, subject);
    if (locked > 0) {
      count('locked');
      await failed('locked');
      throw new AppError('too_many_attempts', undefined, locked);
    }
    if (!(await this.d.hasher.verify(user.passwordHash, current)).ok) {
      await this.atomically(async () => {
        await this.recordFailure(ctx, tenant, subject, user.id);
        await failed('invalid_credentials');
      });
      count('invalid_credentials');
      throw new AppError('invalid_credentials');
    }
    if (next === current) {
      count('unchanged');
      await failed('unchanged');
      throw new AppError('password_unchanged');
    }
    const issues = checkPassword(next, { minLength: this.d.config.passwordMinLength, email: user.email });
    if (issues.length > 0) {
      count('weak_password');
      await failed('weak_password');
      throw new AppError('weak_password', { issues });
    }
    const newHash = await this.d.hasher.hash(next);
    const revoked = await this.atomically(async () => {
      const n = await this.d.repo.changePassword(user.id, newHash, 'password_changed');
      await this.d.repo.recordLoginSourceSuccess(tenant.id, subject, ctx.ip);
      await this.event('audit', 'password_changed', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'changed',
        revoked_sessions: n,
      });
      return n;
    });
    await this.revokeUserTokens(tenant.id, user.id);
    count('success');
    return { revokedSessions: revoked };
  }

  /** POST /mfa/recovery-codes/regenerate: a current TOTP code replaces every recovery code with new ones. */
  async regenerateRecoveryCodes(
    ctx: RequestContext,
    p: Principal,
    body: Record<string, unknown>,
  ): Promise<{ recoveryCodes: string[] }> {
    const route = '/mfa/recovery-codes/regenerate';
    const code = str(body, 'code', 16)!;
    this.requireRecentAuthentication(p);
    const acct = await this.account(p);
    const { user, tenant } = acct;
    this.requireEnrolled(acct, route);
    await this.refuseIfLocked(ctx, acct, route);
    const outcome = await this.claimTotp(user, code, route);
    if (outcome !== 'success') await this.mfaFailure(ctx, acct, outcome, route);
    const recoveryCodes = newRecoveryCodes(this.d.config.mfa.backupCodesCount);
    const replaced = await this.atomically(async () => {
      const ok = await this.d.repo.replaceRecoveryCodes(user.id, recoveryCodes.map(hashRecoveryCode));
      if (ok)
        await this.event('mfa', 'mfa_recovery_codes_regenerated', ctx, {
          userId: user.id,
          roles: user.roles,
          outcome: 'regenerated',
          count: recoveryCodes.length,
        });
      return ok;
    });
    if (!replaced) throw new AppError('mfa_not_enrolled');
    this.d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'recovery_codes_regenerated', route });
    return { recoveryCodes };
  }

  /**
   * POST /mfa/disable: password and a current TOTP code turn MFA off, where policy allows it (never for an
   * admin or where the tenant or the service requires MFA); every session of the user ends.
   */
  async disableMfa(
    ctx: RequestContext,
    p: Principal,
    body: Record<string, unknown>,
  ): Promise<{ revokedSessions: number }> {
    const route = '/mfa/disable';
    const password = str(body, 'password', MAX_PASSWORD_LENGTH)!;
    const code = str(body, 'code', 16)!;
    this.requireRecentAuthentication(p);
    const acct = await this.account(p);
    const { user, tenant, subject } = acct;
    this.requireEnrolled(acct, route);
    if (!mayDisableMfa(user.roles, tenant.requireMfa, this.d.config.mfa)) {
      this.d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'refused_by_policy', route });
      await this.event('mfa', 'mfa_disable_refused', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'mfa_required_by_policy',
      });
      throw new AppError('mfa_required_by_policy');
    }
    await this.refuseIfLocked(ctx, acct, route);
    // As at /login: the password first; the code is checked (and its step spent) only after it.
    if (!(await this.d.hasher.verify(user.passwordHash, password)).ok)
      await this.mfaFailure(ctx, acct, 'invalid_credentials', route);
    const outcome = await this.claimTotp(user, code, route);
    if (outcome !== 'success') await this.mfaFailure(ctx, acct, outcome, route);
    const revoked = await this.atomically(async () => {
      const n = await this.d.repo.disableMfa(user.id, 'mfa_disabled');
      if (n === undefined) return undefined;
      await this.d.repo.recordLoginSourceSuccess(tenant.id, subject, ctx.ip);
      await this.event('mfa', 'mfa_disabled', ctx, {
        userId: user.id,
        roles: user.roles,
        outcome: 'disabled',
        revoked_sessions: n,
      });
      return n;
    });
    if (revoked === undefined) throw new AppError('mfa_not_enrolled');
    await this.revokeUserTokens(tenant.id, user.id);
    this.d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'disabled', route });
    return { revokedSessions: revoked };
  }

  // --- users of the tenant (admin) -------------------------------------------------------------------

  /** PUT /users/:id/roles: new roles; every earlier token of that user stops working at once. */
  async setUserRoles(ctx: RequestContext, p: Principal, id: string, body: Record<string, unknown>) {
    this.requirePrivileged(ctx, p, '/users');
    const rolesIn = body['roles'];
    if (
      !Array.isArray(rolesIn) ||
      rolesIn.length === 0 ||
      !rolesIn.every((r) => (ASSIGNABLE_ROLES as readonly unknown[]).includes(r))
    ) {
      throw new AppError('invalid_request', { field: 'roles', allowed: ASSIGNABLE_ROLES });
    }
    const roles = [...new Set(rolesIn as string[])];
    const updated =
      UUID_RE.test(id) &&
      (await this.atomically(async () => {
        const ok = await this.d.repo.setUserRoles(p.tenantId, id, roles);
        if (ok)
          await this.event('audit', 'user_roles_changed', ctx, {
            userId: p.userId,
            roles: p.roles,
            outcome: 'updated',
            target_user_id: id,
            new_roles: roles,
          });
        return ok;
      }));
    if (!updated) throw new AppError('not_found');
    await this.revokeUserTokens(p.tenantId, id);
    return { id, tenantId: p.tenantId, roles };
  }

  /** DELETE /users/:id: the user, its sessions and codes are gone; its tokens stop working at once. */
  async deleteUser(ctx: RequestContext, p: Principal, id: string): Promise<void> {
    this.requirePrivileged(ctx, p, '/users');
    const deleted =
      UUID_RE.test(id) &&
      (await this.atomically(async () => {
        const ok = await this.d.repo.deleteUser(p.tenantId, id);
        if (ok)
          await this.event('audit', 'user_deleted', ctx, {
            userId: p.userId,
            roles: p.roles,
            outcome: 'deleted',
            target_user_id: id,
          });
        return ok;
      }));
    if (!deleted) throw new AppError('not_found');
    await this.revokeUserTokens(p.tenantId, id);
  }

  // --- tenant settings and API keys -----------------------------------------------------------------

  async setTenantSettings(ctx: RequestContext, p: Principal, body: Record<string, unknown>) {
    this.requirePrivileged(ctx, p, '/tenant/settings');
    if (typeof body['requireMfa'] !== 'boolean')
      throw new AppError('invalid_request', { field: 'requireMfa' });
    const requireMfa = body['requireMfa'];
    await this.atomically(async () => {
      await this.d.repo.setTenantRequireMfa(p.tenantId, requireMfa);
      await this.event('audit', 'tenant_settings_changed', ctx, {
        userId: p.userId,
        roles: p.roles,
        outcome: 'updated',
        require_mfa: requireMfa,
      });
    });
    return { tenantId: p.tenantId, requireMfa: body['requireMfa'] };
  }

  async createApiKey(ctx: RequestContext, p: Principal, body: Record<string, unknown>) {
    this.requirePrivileged(ctx, p, '/api-keys');
    this.requireRecentAuthentication(p);
    const name = str(body, 'name', 100)!;
    const scopes = body['scopes'] ?? [];
    if (
      !Array.isArray(scopes) ||
      scopes.length > 20 ||
      !scopes.every((s) => typeof s === 'string' && /^[a-z0-9:._-]{1,64}$/.test(s))
    ) {
      throw new AppError('invalid_request', { field: 'scopes' });
    }
    const days = body['expiresInDays'];
    if (
      days !== undefined &&
      (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 3650)
    ) {
      throw new AppError('invalid_request', { field: 'expiresInDays' });
    }
    const { prefix, key } = newApiKey();
    const keyHash = await this.d.hasher.hash(key);
    const row = await this.atomically(async () => {
      const inserted = await this.d.repo.insertApiKey({
        tenantId: p.tenantId,
        createdBy: p.userId,
        name,
        prefix,
        keyHash,
        scopes: scopes as string[],
        expiresAt: typeof days === 'number' ? new Date(Date.now() + days * 86_400_000) : null,
      });
      await this.event('audit', 'api_key_created', ctx, {
        userId: p.userId,
        roles: p.roles,
        outcome: 'created',
        key_prefix: prefix,
        api_key_id: inserted.id,
      });
      return inserted;
    });
    return { ...row, key };
  }

  async listApiKeys(ctx: RequestContext, p: Principal) {
    this.requirePrivileged(ctx, p, '/api-keys');
    return this.d.repo.listApiKeys(p.tenantId);
  }

  async revokeApiKey(ctx: RequestContext, p: Principal, id: string) {
    this.requirePrivileged(ctx, p, '/api-keys');
    const revoked =
      /^[0-9a-f-]{36}$/.test(id) &&
      (await this.atomically(async () => {
        const ok = await this.d.repo.revokeApiKey(p.tenantId, id);
        if (ok)
          await this.event('audit', 'api_key_revoked', ctx, {
            userId: p.userId,
            roles: p.roles,
            outcome: 'revoked',
            api_key_id: id,
          });
        return ok;
      }));
    if (!revoked) throw new AppError('not_found');
  }
}
