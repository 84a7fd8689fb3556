import { describe, expect, it } from 'vitest';
import { VaultError } from '../../../../lib/vault.js';
import { UnknownConnectionError } from '../../adapters/vault-connections/index.js';
import { Reason } from '../../api/conditions.js';
import { aSecretPromotion } from '../../api/fixtures.js';
import { type Failure, failureOf, guardPath, PlanError, targetOf } from './errors.js';

describe('failureOf', () => {
  const cases: [string, unknown, Failure][] = [
    [
      'a problem the user must fix is not retried with backoff',
      new PlanError(Reason.SourceNotFound, 'no secrets under local:secret/novapos/'),
      { reason: Reason.SourceNotFound, message: 'no secrets under local:secret/novapos/', retry: false },
    ],
    [
      'an unknown connection is an invalid spec',
      new UnknownConnectionError('prod', ['local']),
      {
        reason: Reason.InvalidSpec,
        message: expect.stringContaining('"prod" is not configured'),
        retry: false,
      },
    ],
    [
      'Vault unavailable is retried with backoff and names the error code',
      new VaultError('unavailable', 'connection refused'),
      { reason: Reason.VaultUnavailable, message: 'Vault: connection refused (unavailable)', retry: true },
    ],
    [
      'any other error is retried and only its first line is shown',
      new Error('boom\nat stack frame'),
      { reason: Reason.ReconcileError, message: 'boom', retry: true },
    ],
    [
      'something thrown that is not an Error says only "error"',
      'a string',
      { reason: Reason.ReconcileError, message: 'error', retry: true },
    ],
  ];
  for (const [name, err, expected] of cases) {
    it(name, () => expect(failureOf(err)).toEqual(expected));
  }
});

describe('guardPath', () => {
  const cases: [string, string, string, boolean][] = [
    ['a path under the signing keys is refused', 'secret', 'novapos/signing-keys/ns/auth/k1', true],
    ['the signing-key tree itself is refused', 'secret', 'novapos/signing-keys', true],
    ['an ordinary secret passes', 'secret', 'novapos/auth', false],
    ['a look-alike name outside the tree passes', 'secret', 'novapos/signing-keys-backup', false],
  ];
  for (const [name, mount, path, refused] of cases) {
    it(name, () => {
      const run = () => guardPath('status.plan target', mount, path);
      if (refused) expect(run).toThrow(expect.objectContaining({ reason: Reason.ForbiddenPath }));
      else expect(run).not.toThrow();
    });
  }
});

describe('targetOf', () => {
  it('finds a target of spec.targets by name', () => {
    expect(targetOf(aSecretPromotion(), 'staging').connection).toBe('staging');
  });
  it('a target no longer in the spec is an invalid spec that says to add it back', () => {
    expect(() => targetOf(aSecretPromotion(), 'gone')).toThrow(/target "gone" .* add it back/);
  });
});
