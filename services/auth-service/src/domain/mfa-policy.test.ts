import { describe, expect, it } from 'vitest';
import { type MfaPolicy, mayDisableMfa, mfaRequiredFor } from './mfa-policy.js';

const defaults: MfaPolicy = { required: false, requiredForAdmin: true, privilegedRoles: ['admin'] };

describe('MFA policy', () => {
  it('requires MFA for privileged roles, for a require_mfa tenant, and for everyone under MFA_REQUIRED', () => {
    expect(mfaRequiredFor(['cashier'], false, defaults)).toBe(false);
    expect(mfaRequiredFor(['admin'], false, defaults)).toBe(true);
    expect(mfaRequiredFor(['cashier'], true, defaults)).toBe(true);
    expect(mfaRequiredFor(['cashier'], false, { ...defaults, required: true })).toBe(true);
    expect(mfaRequiredFor(['manager'], false, { ...defaults, privilegedRoles: ['admin', 'manager'] })).toBe(
      true,
    );
    expect(mfaRequiredFor(['admin'], false, { ...defaults, requiredForAdmin: false })).toBe(false);
  });

  it('lets only a user for whom MFA is optional turn it off', () => {
    expect(mayDisableMfa(['cashier'], false, defaults)).toBe(true);
    expect(mayDisableMfa(['user', 'manager'], false, defaults)).toBe(true);
    expect(mayDisableMfa(['cashier'], true, defaults)).toBe(false);
    expect(mayDisableMfa(['cashier'], false, { ...defaults, required: true })).toBe(false);
    expect(mayDisableMfa(['cashier', 'admin'], false, defaults)).toBe(false);
    expect(mayDisableMfa(['manager'], false, { ...defaults, privilegedRoles: ['admin', 'manager'] })).toBe(
      false,
    );
  });

  it('never lets an admin turn MFA off, even with MFA_REQUIRED_FOR_ADMIN=false', () => {
    const lax: MfaPolicy = { required: false, requiredForAdmin: false, privilegedRoles: [] };
    expect(mfaRequiredFor(['admin'], false, lax)).toBe(false);
    expect(mayDisableMfa(['admin'], false, lax)).toBe(false);
  });
});
