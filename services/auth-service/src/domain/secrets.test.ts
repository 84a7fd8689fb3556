import { describe, expect, it } from 'vitest';
import {
  apiKeyPrefix,
  hashRecoveryCode,
  newApiKey,
  newRecoveryCode,
  newRecoveryCodes,
  newRefreshToken,
} from './secrets.js';

describe('secrets', () => {
  it('makes API keys whose prefix can be parsed back, and refuses malformed keys', () => {
    const { prefix, key } = newApiKey();
    expect(apiKeyPrefix(key)).toBe(prefix);
    expect(apiKeyPrefix(`${key}x`)).toBeUndefined();
    expect(apiKeyPrefix('npk_short_key')).toBeUndefined();
  });

  it('matches recovery codes typed without dashes or in lower case', () => {
    const code = newRecoveryCode();
    expect(code).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
    expect(hashRecoveryCode(code.replace(/-/g, '').toLowerCase())).toBe(hashRecoveryCode(code));
  });

  it('makes a set of distinct recovery codes of the requested size, all in the enrollment format', () => {
    const codes = newRecoveryCodes(10);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
    expect(newRecoveryCodes(0)).toEqual([]);
  });

  it('makes distinct refresh tokens', () => {
    expect(newRefreshToken()).not.toBe(newRefreshToken());
    expect(newRefreshToken()).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
  });
});
