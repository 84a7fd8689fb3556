import { describe, expect, it } from 'vitest';
import { lockoutSeconds } from './lockout.js';

describe('lockout backoff', () => {
  const policy = { threshold: 5, baseSeconds: 60, maxSeconds: 3600 };
  it.each([
    [4, 0],
    [5, 60],
    [6, 120],
    [7, 240],
    [11, 3600],
    [500, 3600],
  ])('after %i failures the account is locked for %i s', (failures, seconds) => {
    expect(lockoutSeconds(failures, policy)).toBe(seconds);
  });
});
