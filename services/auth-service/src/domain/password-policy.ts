/** Password policy of seed 004: length, character classes, no whitespace, no weak patterns. */
export type PasswordIssue =
  | 'too_short'
  | 'too_long'
  | 'missing_uppercase'
  | 'missing_lowercase'
  | 'missing_digit'
  | 'missing_symbol'
  | 'contains_whitespace'
  | 'weak_pattern'
  | 'contains_email';

export const MAX_PASSWORD_LENGTH = 256;

const WEAK_WORDS = [
  'password',
  'passw0rd',
  'qwerty',
  'letmein',
  'welcome',
  'admin',
  'novapos',
  'iloveyou',
  'changeme',
  'secret',
];
const SEQUENCES = ['0123456789', 'abcdefghijklmnopqrstuvwxyz', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm'];

function hasSequence(lower: string, run: number): boolean {
  for (const seq of SEQUENCES) {
    const rev = [...seq].reverse().join('');
    for (let i = 0; i + run <= seq.length; i++) {
      if (lower.includes(seq.slice(i, i + run)) || lower.includes(rev.slice(i, i + run))) return true;
    }
  }
  return false;
}

/** Issues with `password`, empty when it is acceptable. */
export function checkPassword(
  password: string,
  opts: { minLength: number; email?: string },
): PasswordIssue[] {
  const issues: PasswordIssue[] = [];
  if (password.length < opts.minLength) issues.push('too_short');
  if (password.length > MAX_PASSWORD_LENGTH) issues.push('too_long');
  if (!/[A-Z]/.test(password)) issues.push('missing_uppercase');
  if (!/[a-z]/.test(password)) issues.push('missing_lowercase');
  if (!/[0-9]/.test(password)) issues.push('missing_digit');
  if (!/[^A-Za-z0-9\s]/.test(password)) issues.push('missing_symbol');
  if (/\s/.test(password)) issues.push('contains_whitespace');
  const lower = password.toLowerCase();
  // Leetspeak folded so "P@ssw0rd" counts as "password".
  const folded = lower
    .replace(/[@4]/g, 'a')
    .replace(/3/g, 'e')
    .replace(/[1!|]/g, 'i')
    .replace(/0/g, 'o')
    .replace(/[$5]/g, 's');
  if (
    WEAK_WORDS.some((w) => lower.includes(w) || folded.includes(w)) ||
    /(.)\1{3,}/.test(password) ||
    hasSequence(lower, 4)
  ) {
    issues.push('weak_pattern');
  }
  const local = opts.email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 3 && lower.includes(local)) issues.push('contains_email');
  return issues;
}
