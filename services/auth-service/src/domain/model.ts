/**
 * The auth domain's vocabulary: who asks (request context, principal), what they ask (typed commands,
 * parsed and schema-checked at the route) and what they get back. No transport types here.
 */

/** Audience of the enrollment-only token: accepted by the MFA enrollment routes, by nothing else. */
export const ENROLLMENT_AUDIENCE = 'novapos-auth-mfa-enrollment';
export const ASSIGNABLE_ROLES = ['admin', 'manager', 'cashier', 'user', 'auditor'] as const;
export type AssignableRole = (typeof ASSIGNABLE_ROLES)[number];

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

export interface EnrollmentRequired {
  readonly enrollment: { enrollmentToken: string; expiresIn: number };
}

// --- commands (the route has checked each against its schema in routes/api.ts) ----------------------

export interface SignInCommand {
  readonly email: string;
  readonly password: string;
  readonly mfaCode?: string | undefined;
  readonly recoveryCode?: string | undefined;
}

export interface RefreshTokenCommand {
  readonly refreshToken: string;
}

export interface ChangePasswordCommand {
  readonly currentPassword: string;
  readonly newPassword: string;
}

export interface RegisterFirstCommand {
  readonly email: string;
  readonly password: string;
  /** The X-Bootstrap-Token header. */
  readonly bootstrapToken: string | undefined;
}

export interface RegisterCommand {
  readonly email: string;
  readonly password: string;
  readonly roles?: readonly AssignableRole[] | undefined;
}

export interface SetRolesCommand {
  /** From the path: not yet known to be a UUID. */
  readonly userId: string;
  readonly roles: readonly AssignableRole[];
}

export interface TenantSettingsCommand {
  readonly requireMfa: boolean;
}

export interface EnrollStartCommand {
  /** Replaces a pending enrollment (full sessions only). */
  readonly password?: string | undefined;
  readonly route: string;
}

export interface EnrollCompleteCommand {
  readonly code: string;
  readonly route: string;
}

export interface TotpCodeCommand {
  readonly code: string;
}

export interface DisableMfaCommand {
  readonly password: string;
  readonly code: string;
}

export interface CreateApiKeyCommand {
  readonly name: string;
  readonly scopes?: readonly string[] | undefined;
  readonly expiresInDays?: number | undefined;
}
