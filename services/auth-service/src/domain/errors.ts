/**
 * Stable error codes of the HTTP API (`{ error: { code, message, requestId } }`). Clients switch on the code;
 * the message is one human line that never echoes input.
 */
export const ERRORS = {
  invalid_request: [400, 'The request is not valid.'],
  malformed_json: [400, 'The request body is not valid JSON.'],
  unsupported_media_type: [415, 'The request body must be application/json.'],
  payload_too_large: [413, 'The request body is too large.'],
  tenant_required: [400, 'The X-Tenant-ID header is required.'],
  invalid_tenant: [400, 'The X-Tenant-ID header is not a valid tenant id.'],
  tenant_mismatch: [403, 'The token does not belong to this tenant.'],
  invalid_credentials: [401, 'Invalid email or password.'],
  mfa_required: [401, 'A multi-factor authentication code is required.'],
  mfa_invalid: [401, 'The multi-factor authentication code is not valid.'],
  mfa_enrollment_required: [403, 'Multi-factor authentication must be set up before signing in.'],
  mfa_already_enrolled: [409, 'Multi-factor authentication is already set up.'],
  mfa_not_started: [409, 'Start multi-factor enrollment first.'],
  mfa_not_enrolled: [409, 'Multi-factor authentication is not set up.'],
  mfa_required_by_policy: [
    403,
    'Multi-factor authentication is required for this account and cannot be turned off.',
  ],
  mfa_enrollment_pending: [
    409,
    'An enrollment is already in progress; finish it, or start again after it expires.',
  ],
  reauthentication_required: [401, 'Sign in again to do this.'],
  session_revoked: [401, 'This session has ended; sign in again.'],
  session_check_unavailable: [503, 'The session cannot be checked right now.'],
  mfa_unavailable: [503, 'Multi-factor authentication cannot be checked right now.'],
  too_many_attempts: [429, 'Too many failed attempts. Try again later.'],
  rate_limited: [429, 'Too many requests. Try again later.'],
  unauthorized: [401, 'Authentication is required.'],
  token_invalid: [401, 'The access token is not valid.'],
  forbidden: [403, 'This action is not allowed.'],
  privileged_mfa_required: [
    403,
    'This action requires a session established with multi-factor authentication.',
  ],
  weak_password: [400, 'The password does not meet the password policy.'],
  password_unchanged: [400, 'The new password must differ from the current one.'],
  registration_closed: [403, 'Self-registration is disabled.'],
  email_taken: [409, 'An account with this email already exists.'],
  refresh_token_invalid: [401, 'The refresh token is not valid.'],
  refresh_token_expired: [401, 'The refresh token has expired.'],
  refresh_token_reused: [401, 'The refresh token was already used; the session has been revoked.'],
  not_found: [404, 'Not found.'],
  method_not_allowed: [405, 'Method not allowed.'],
  origin_not_allowed: [403, 'This origin is not allowed.'],
  signing_unavailable: [503, 'Tokens cannot be issued right now.'],
  internal_error: [500, 'Something went wrong.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly details?: Record<string, unknown>,
    readonly retryAfterSeconds?: number,
  ) {
    super(ERRORS[code][1]);
    this.status = ERRORS[code][0];
  }
}
