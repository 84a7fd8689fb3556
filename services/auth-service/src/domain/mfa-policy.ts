/** Who must use MFA (pure: config and tenant policy in, decision out). */
export interface MfaPolicy {
  /** Every account must use MFA (MFA_REQUIRED). */
  readonly required: boolean;
  /** Privileged roles must use MFA (MFA_REQUIRED_FOR_ADMIN). */
  readonly requiredForAdmin: boolean;
  readonly privilegedRoles: readonly string[];
}

export function isPrivileged(roles: readonly string[], policy: MfaPolicy): boolean {
  return roles.some((r) => policy.privilegedRoles.includes(r));
}

/** Whether a user with `roles` in a tenant with `tenantRequiresMfa` must use MFA. */
export function mfaRequiredFor(
  roles: readonly string[],
  tenantRequiresMfa: boolean,
  policy: MfaPolicy,
): boolean {
  return policy.required || tenantRequiresMfa || (policy.requiredForAdmin && isPrivileged(roles, policy));
}

/**
 * Whether the user may turn MFA off (`POST /mfa/disable`): never where MFA is required for them, and never
 * for an admin, whatever MFA_REQUIRED_FOR_ADMIN says (admin actions always need an MFA session here).
 */
export function mayDisableMfa(
  roles: readonly string[],
  tenantRequiresMfa: boolean,
  policy: MfaPolicy,
): boolean {
  return (
    !roles.includes('admin') &&
    !isPrivileged(roles, policy) &&
    !mfaRequiredFor(roles, tenantRequiresMfa, policy)
  );
}
