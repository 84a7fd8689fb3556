import { describe, expect, it } from 'vitest';
import { VaultError, type VaultErrorCode } from '../../../../lib/vault.js';
import { isRefusal } from './head-signer.js';

describe('isRefusal: what makes the audit-service not ready', () => {
  it.each<[VaultErrorCode, boolean]>([
    ['login_failed', true], // a role bound to another ServiceAccount or namespace, or no such role
    ['unauthorized', true],
    ['forbidden', true], // the policy lacks the transit key or the checkpoint path
    ['not_found', true], // no such transit key or mount
    ['invalid_request', true],
    ['unavailable', false], // Vault down: retried, still ready
    ['timeout', false],
    ['sealed', false],
    ['invalid_response', false],
  ])('Vault error %s is a refusal: %s', (code, refused) => {
    expect(isRefusal(new VaultError(code, 'x'))).toBe(refused);
  });

  it('counts a missing ServiceAccount token file as a refusal (configuration, not an outage)', () => {
    expect(isRefusal(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))).toBe(true);
  });
});
