import { authenticate } from './use-cases/access.js';
import * as accountSelfService from './use-cases/account.js';
import * as apiKeys from './use-cases/api-keys.js';
import { type AuthServiceDeps, type UseCaseDeps, useCaseDeps } from './use-cases/deps.js';
import * as enrollment from './use-cases/mfa-enrollment.js';
import * as sessions from './use-cases/sessions.js';
import { signIn } from './use-cases/sign-in.js';
import * as users from './use-cases/users.js';

export * from './model.js';
export type { AuthServiceDeps } from './use-cases/deps.js';

/**
 * auth-service's use cases behind one handle for the routes. Each is a function in `use-cases/` taking its
 * dependencies (with the injected clock), the request context and a typed command:
 * - sign-in.ts: POST /login;
 * - sessions.ts: refresh (with the reuse interval), logout, logout-all;
 * - mfa-enrollment.ts: start and complete TOTP enrollment;
 * - account.ts: password change, recovery codes, MFA disable;
 * - users.ts: the first admin, users and roles, tenant settings;
 * - api-keys.ts: create, list, revoke;
 * - access.ts: bearer tokens, session-bound revocation, step-up and privileged checks.
 * Shared steps: events.ts (`withEvent`: a change and its outbox event in one transaction), tokens.ts,
 * failures.ts (lockout bookkeeping), second-factor.ts (TOTP and recovery codes).
 */
export function createAuthService(deps: AuthServiceDeps) {
  const d = useCaseDeps(deps);
  /** The use case with its dependencies applied: the route passes the context and the command. */
  const bind =
    <A extends unknown[], R>(useCase: (d: UseCaseDeps, ...args: A) => R) =>
    (...args: A): R =>
      useCase(d, ...args);
  return {
    /** A /login body the route refused (schema): counted like the domain's own invalid requests. */
    countInvalidLogin: () => d.metrics.loginAttempts.inc({ tenant: 'unknown', outcome: 'invalid_request' }),
    authenticate: bind(authenticate),
    login: bind(signIn),
    refresh: bind(sessions.refreshSession),
    logout: bind(sessions.logout),
    logoutAll: bind(sessions.logoutAll),
    limitMfa: bind(enrollment.limitMfa),
    mfaEnrollStart: bind(enrollment.startEnrollment),
    mfaEnrollComplete: bind(enrollment.completeEnrollment),
    changePassword: bind(accountSelfService.changePassword),
    regenerateRecoveryCodes: bind(accountSelfService.regenerateRecoveryCodes),
    disableMfa: bind(accountSelfService.disableMfa),
    registerFirst: bind(users.registerFirst),
    register: bind(users.register),
    setUserRoles: bind(users.setUserRoles),
    deleteUser: bind(users.deleteUser),
    setTenantSettings: bind(users.setTenantSettings),
    createApiKey: bind(apiKeys.createApiKey),
    listApiKeys: bind(apiKeys.listApiKeys),
    revokeApiKey: bind(apiKeys.revokeApiKey),
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
