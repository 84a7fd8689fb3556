import { describe, expect, it } from 'vitest';
import { checkPassword } from './password-policy.js';

describe('password policy (seed 004)', () => {
  it.each([
    ['a strong password passes', 'Tr0ub4dor&Horse-9x', []],
    ['a short one is too short', 'Ab1!xyzq', ['too_short']],
    [
      'each missing class is named',
      'alllowercaseletters',
      ['missing_uppercase', 'missing_digit', 'missing_symbol'],
    ],
    ['whitespace is refused', 'Blue Ledger-58!tram', ['contains_whitespace']],
    ['a common word, even in leetspeak, is weak', 'P@ssw0rd-Blue-58!', ['weak_pattern']],
    ['a keyboard run is weak', 'Qwer-Blue-58!tram', ['weak_pattern']],
    ['a repeated character is weak', 'Blue-Leddddger-58!', ['weak_pattern']],
    ['a digit sequence is weak', 'Blue-Ledger-1234!', ['weak_pattern']],
  ])('%s', (_name, password, issues) => {
    expect(checkPassword(password, { minLength: 12 })).toEqual(issues);
  });

  it('refuses a password that contains the e-mail name', () => {
    expect(checkPassword('Maria-Ledger-58!x', { minLength: 12, email: 'maria@novapos.local' })).toEqual([
      'contains_email',
    ]);
  });
});
