import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors.js';
import { parseRef, resolveKind, resourcePath } from './resources.js';

describe('kinds as a user types them', () => {
  it.each([
    ['skr', 'SigningKeyRotation'],
    ['signingkeyrotation', 'SigningKeyRotation'],
    ['SigningKeyRotations', 'SigningKeyRotation'],
    ['spromo', 'SecretPromotion'],
    ['trl', 'TenantRateLimit'],
    ['drdrill', 'DisasterRecoveryDrill'],
    ['secretpromotions.security.novapos.io', 'SecretPromotion'],
  ])('%s is %s', (word, kind) => expect(resolveKind(word)?.kind).toBe(kind));

  it('knows no other kind', () => expect(resolveKind('pod')).toBeUndefined());
});

describe('parseRef', () => {
  it('splits KIND/NAME', () => {
    const ref = parseRef('skr/auth', ['SigningKeyRotation']);
    expect([ref.kind.kind, ref.name]).toEqual(['SigningKeyRotation', 'auth']);
  });

  it.each([
    ['a bare name is a usage error', 'auth', /not KIND\/NAME/],
    ['an unknown kind is a usage error', 'pod/auth', /unknown kind "pod"/],
    [
      'another kind than the verb takes is a usage error',
      'spromo/x',
      /works on SigningKeyRotation, not SecretPromotion/,
    ],
  ])('%s', (_name, ref, message) => {
    let err: unknown;
    try {
      parseRef(ref, ['SigningKeyRotation']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toMatch(message);
    expect((err as CliError).exitCode).toBe(ExitCode.usage);
  });

  it('builds REST paths', () => {
    const kind = resolveKind('skr')!;
    expect(resourcePath(kind, 'ns', 'a')).toBe(
      '/apis/security.novapos.io/v1alpha1/namespaces/ns/signingkeyrotations/a',
    );
    expect(resourcePath(kind, undefined)).toBe('/apis/security.novapos.io/v1alpha1/signingkeyrotations');
  });
});
