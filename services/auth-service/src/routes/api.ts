import { type TSchema, Type } from '@sinclair/typebox';
import { ERRORS, type ErrorCode } from '../domain/errors.js';
import { MAX_PASSWORD_LENGTH } from '../domain/password-policy.js';

/**
 * auth-service's HTTP API, described once: the request and response bodies as TypeBox schemas and, per
 * operation, who may call it and every error code it can answer. `openapi.ts` turns this into the OpenAPI
 * 3.1 document served at `GET /openapi.json` and committed as `services/auth-service/openapi.json` (a unit
 * test fails on drift). Error statuses come from `domain/errors.ts`, so a code and its status cannot differ.
 */

const Email = Type.String({ minLength: 1, maxLength: 254, description: 'E-mail (trimmed, lower-cased).' });
const Password = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH });
const TotpCode = Type.String({ minLength: 1, maxLength: 16, description: 'Six-digit TOTP code.' });
const Role = Type.Union([
  Type.Literal('admin'),
  Type.Literal('manager'),
  Type.Literal('cashier'),
  Type.Literal('user'),
  // Reads its tenant's audit log through the audit-service's query API (with MFA; docs/audit-service.md).
  Type.Literal('auditor'),
]);
const Uuid = Type.String({ format: 'uuid' });

export const Schemas = {
  LoginRequest: Type.Object({
    email: Email,
    password: Password,
    mfaCode: Type.Optional(TotpCode),
    recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  }),
  SessionTokens: Type.Object({
    accessToken: Type.String({
      description: 'JWT: iss, aud, sub, tid, roles, amr, sid, auth_time, jti, iat, nbf, exp.',
    }),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer(),
    refreshToken: Type.String(),
    refreshExpiresAt: Type.String({ format: 'date-time' }),
  }),
  LoginResponse: Type.Object({
    accessToken: Type.String(),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer(),
    refreshToken: Type.String(),
    refreshExpiresAt: Type.String({ format: 'date-time' }),
    user: Type.Object({
      id: Uuid,
      email: Type.String(),
      tenantId: Type.String(),
      roles: Type.Array(Type.String()),
      mfaEnrolled: Type.Boolean(),
    }),
  }),
  RefreshRequest: Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 128 }) }),
  RevokedSessions: Type.Object({ revokedSessions: Type.Integer({ minimum: 0 }) }),
  PasswordChangeRequest: Type.Object({
    currentPassword: Password,
    newPassword: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH + 1 }),
  }),
  RegisterFirstRequest: Type.Object({ email: Email, password: Password }),
  RegisterRequest: Type.Object({
    email: Email,
    password: Password,
    roles: Type.Optional(Type.Array(Role, { minItems: 1 })),
  }),
  UserResponse: Type.Object({
    user: Type.Object({
      id: Uuid,
      email: Type.Optional(Type.String()),
      tenantId: Type.String(),
      roles: Type.Array(Type.String()),
    }),
  }),
  RolesRequest: Type.Object({ roles: Type.Array(Role, { minItems: 1 }) }),
  TenantSettings: Type.Object({ requireMfa: Type.Boolean() }),
  TenantSettingsResponse: Type.Object({ tenantId: Type.String(), requireMfa: Type.Boolean() }),
  EnrollStartRequest: Type.Object({
    password: Type.Optional(
      Type.String({
        maxLength: MAX_PASSWORD_LENGTH,
        description: 'Replaces a pending enrollment (full sessions only).',
      }),
    ),
  }),
  EnrollStartResponse: Type.Object({
    secret: Type.String({ description: 'Base32 TOTP secret (shown once).' }),
    otpauthUri: Type.String(),
  }),
  CodeRequest: Type.Object({ code: TotpCode }),
  EnrollCompleteResponse: Type.Object({
    recoveryCodes: Type.Array(Type.String(), { description: 'Shown once.' }),
    accessToken: Type.Optional(Type.String()),
    tokenType: Type.Optional(Type.Literal('Bearer')),
    expiresIn: Type.Optional(Type.Integer()),
    refreshToken: Type.Optional(Type.String()),
    refreshExpiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  }),
  RecoveryCodes: Type.Object({ recoveryCodes: Type.Array(Type.String()) }),
  MfaDisableRequest: Type.Object({ password: Password, code: TotpCode }),
  ApiKeyRequest: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9:._-]{1,64}$' }), { maxItems: 20 })),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  }),
  ApiKey: Type.Object({
    id: Uuid,
    tenantId: Type.String(),
    name: Type.String(),
    prefix: Type.String(),
    scopes: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }),
  Jwks: Type.Object({
    keys: Type.Array(Type.Object({ kid: Type.String(), kty: Type.String(), alg: Type.String() })),
  }),
  KeysStatus: Type.Object({
    keysetHash: Type.Union([Type.String(), Type.Null()]),
    kids: Type.Array(Type.String()),
    activeKid: Type.Union([Type.String(), Type.Null()]),
    loadedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }),
  Health: Type.Object({
    status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('alive')]),
  }),
  Error: Type.Object({
    error: Type.Object({
      code: Type.Union((Object.keys(ERRORS) as ErrorCode[]).map((c) => Type.Literal(c))),
      message: Type.String(),
      requestId: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  }),
} satisfies Record<string, TSchema>;

export type SchemaName = keyof typeof Schemas;

export interface Operation {
  readonly method: 'get' | 'post' | 'put' | 'delete';
  readonly path: string;
  readonly summary: string;
  /** none, the access token (`bearer`), an admin with MFA, or the enrollment token as well. */
  readonly auth: 'none' | 'bearer' | 'admin_mfa' | 'bearer_or_enrollment' | 'bootstrap_token';
  readonly tenant: boolean;
  readonly request?: SchemaName;
  readonly success: { readonly status: number; readonly schema?: SchemaName };
  /** Every error code the operation can answer besides the common ones below. */
  readonly errors: readonly ErrorCode[];
}

/** Answers any tenant route can give (header checks, body parsing, limits, the unexpected). */
export const COMMON_ERRORS: readonly ErrorCode[] = [
  'tenant_required',
  'invalid_tenant',
  'malformed_json',
  'unsupported_media_type',
  'payload_too_large',
  'invalid_request',
  'rate_limited',
  'internal_error',
];
const AUTHENTICATED: readonly ErrorCode[] = [
  'unauthorized',
  'token_invalid',
  'tenant_mismatch',
  'session_revoked',
  'session_check_unavailable',
];
const PRIVILEGED: readonly ErrorCode[] = [...AUTHENTICATED, 'forbidden', 'privileged_mfa_required'];

export const OPERATIONS: readonly Operation[] = [
  {
    method: 'post',
    path: '/login',
    summary: 'Sign in with e-mail and password (and a TOTP or recovery code when MFA is enrolled).',
    auth: 'none',
    tenant: true,
    request: 'LoginRequest',
    success: { status: 200, schema: 'LoginResponse' },
    errors: [
      'invalid_credentials',
      'mfa_required',
      'mfa_invalid',
      'mfa_enrollment_required',
      'mfa_unavailable',
      'too_many_attempts',
      'signing_unavailable',
    ],
  },
  {
    method: 'post',
    path: '/refresh',
    summary: 'Rotate a refresh token (reuse interval: the immediately previous token once more).',
    auth: 'none',
    tenant: true,
    request: 'RefreshRequest',
    success: { status: 200, schema: 'SessionTokens' },
    errors: [
      'refresh_token_invalid',
      'refresh_token_expired',
      'refresh_token_reused',
      'privileged_mfa_required',
      'session_check_unavailable',
      'signing_unavailable',
    ],
  },
  {
    method: 'post',
    path: '/logout',
    summary: 'End the session of a refresh token (204 whether or not it was valid).',
    auth: 'none',
    tenant: true,
    request: 'RefreshRequest',
    success: { status: 204 },
    errors: ['session_check_unavailable'],
  },
  {
    method: 'post',
    path: '/logout-all',
    summary: 'End every session of the caller and every token issued until now.',
    auth: 'bearer',
    tenant: true,
    success: { status: 200, schema: 'RevokedSessions' },
    errors: AUTHENTICATED,
  },
  {
    method: 'post',
    path: '/password/change',
    summary: 'Change the password (step-up); ends every session and token of the user.',
    auth: 'bearer',
    tenant: true,
    request: 'PasswordChangeRequest',
    success: { status: 200, schema: 'RevokedSessions' },
    errors: [
      ...AUTHENTICATED,
      'reauthentication_required',
      'invalid_credentials',
      'too_many_attempts',
      'weak_password',
      'password_unchanged',
    ],
  },
  {
    method: 'post',
    path: '/register-first',
    summary: 'Bootstrap the first admin of an empty installation (off unless enabled; X-Bootstrap-Token).',
    auth: 'bootstrap_token',
    tenant: true,
    request: 'RegisterFirstRequest',
    success: { status: 201, schema: 'UserResponse' },
    errors: ['registration_closed', 'weak_password'],
  },
  {
    method: 'post',
    path: '/register',
    summary: 'Create a user of the tenant.',
    auth: 'admin_mfa',
    tenant: true,
    request: 'RegisterRequest',
    success: { status: 201, schema: 'UserResponse' },
    errors: [...PRIVILEGED, 'weak_password', 'email_taken'],
  },
  {
    method: 'put',
    path: '/users/{id}/roles',
    summary: "Change a user's roles; that user's earlier tokens stop working at once.",
    auth: 'admin_mfa',
    tenant: true,
    request: 'RolesRequest',
    success: { status: 200, schema: 'UserResponse' },
    errors: [...PRIVILEGED, 'not_found'],
  },
  {
    method: 'delete',
    path: '/users/{id}',
    summary: 'Delete a user; its sessions and tokens end at once.',
    auth: 'admin_mfa',
    tenant: true,
    success: { status: 204 },
    errors: [...PRIVILEGED, 'not_found'],
  },
  {
    method: 'put',
    path: '/tenant/settings',
    summary: 'Tenant MFA policy.',
    auth: 'admin_mfa',
    tenant: true,
    request: 'TenantSettings',
    success: { status: 200, schema: 'TenantSettingsResponse' },
    errors: PRIVILEGED,
  },
  ...(['/mfa/enroll/start', '/mfa/setup'] as const).map(
    (path): Operation => ({
      method: 'post',
      path,
      summary: 'Start TOTP enrollment (step-up; a pending enrollment is not replaced).',
      auth: 'bearer_or_enrollment',
      tenant: true,
      request: 'EnrollStartRequest',
      success: { status: 200, schema: 'EnrollStartResponse' },
      errors: [
        ...AUTHENTICATED,
        'reauthentication_required',
        'mfa_already_enrolled',
        'mfa_enrollment_pending',
        'mfa_unavailable',
        'invalid_credentials',
        'too_many_attempts',
      ],
    }),
  ),
  ...(['/mfa/enroll/complete', '/mfa/enable'] as const).map(
    (path): Operation => ({
      method: 'post',
      path,
      summary:
        'Complete TOTP enrollment with a code; returns recovery codes (and a session for the enrollment token).',
      auth: 'bearer_or_enrollment',
      tenant: true,
      request: 'CodeRequest',
      success: { status: 200, schema: 'EnrollCompleteResponse' },
      errors: [
        ...AUTHENTICATED,
        'reauthentication_required',
        'mfa_already_enrolled',
        'mfa_not_started',
        'mfa_invalid',
        'mfa_unavailable',
        'signing_unavailable',
      ],
    }),
  ),
  {
    method: 'post',
    path: '/mfa/recovery-codes/regenerate',
    summary: 'Replace every recovery code (step-up and a current TOTP code).',
    auth: 'bearer',
    tenant: true,
    request: 'CodeRequest',
    success: { status: 200, schema: 'RecoveryCodes' },
    errors: [
      ...AUTHENTICATED,
      'reauthentication_required',
      'mfa_not_enrolled',
      'mfa_invalid',
      'mfa_unavailable',
      'too_many_attempts',
    ],
  },
  {
    method: 'post',
    path: '/mfa/disable',
    summary: 'Turn MFA off where policy allows (step-up, password and code); ends every session.',
    auth: 'bearer',
    tenant: true,
    request: 'MfaDisableRequest',
    success: { status: 200, schema: 'RevokedSessions' },
    errors: [
      ...AUTHENTICATED,
      'reauthentication_required',
      'mfa_not_enrolled',
      'mfa_required_by_policy',
      'invalid_credentials',
      'mfa_invalid',
      'mfa_unavailable',
      'too_many_attempts',
    ],
  },
  {
    method: 'post',
    path: '/api-keys',
    summary: 'Create an API key (step-up); the key is shown once.',
    auth: 'admin_mfa',
    tenant: true,
    request: 'ApiKeyRequest',
    success: { status: 201, schema: 'ApiKey' },
    errors: [...PRIVILEGED, 'reauthentication_required'],
  },
  {
    method: 'get',
    path: '/api-keys',
    summary: "The tenant's API keys (no secrets).",
    auth: 'admin_mfa',
    tenant: true,
    success: { status: 200 },
    errors: PRIVILEGED,
  },
  {
    method: 'delete',
    path: '/api-keys/{id}',
    summary: 'Revoke an API key.',
    auth: 'admin_mfa',
    tenant: true,
    success: { status: 204 },
    errors: [...PRIVILEGED, 'not_found'],
  },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    summary: 'Public signing keys (Cache-Control max-age = jwksCacheTTLSeconds; X-Keyset-Hash).',
    auth: 'none',
    tenant: false,
    success: { status: 200, schema: 'Jwks' },
    errors: ['signing_unavailable'],
  },
  {
    method: 'get',
    path: '/keys/status',
    summary: 'The loaded key set (contract).',
    auth: 'none',
    tenant: false,
    success: { status: 200, schema: 'KeysStatus' },
    errors: [],
  },
  {
    method: 'post',
    path: '/keys/reload',
    summary: 'Re-read the key set from Vault now (no body, no data).',
    auth: 'none',
    tenant: false,
    success: { status: 202 },
    errors: [],
  },
  {
    method: 'get',
    path: '/health',
    summary: 'Readiness: database and key set.',
    auth: 'none',
    tenant: false,
    success: { status: 200, schema: 'Health' },
    errors: [],
  },
  {
    method: 'get',
    path: '/health/live',
    summary: 'Liveness.',
    auth: 'none',
    tenant: false,
    success: { status: 200, schema: 'Health' },
    errors: [],
  },
];
