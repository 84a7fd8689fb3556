import { describe, expect, it } from 'vitest';
import { reloadUrlOf } from './key-status-probe.js';

describe('the reload URL of a service', () => {
  it.each([
    [
      'is the status URL with /keys/status turned into /keys/reload',
      { statusURL: 'http://auth:8085/keys/status' },
      'http://auth:8085/keys/reload',
    ],
    [
      'keeps a path prefix',
      { statusURL: 'https://gw.example/auth/keys/status' },
      'https://gw.example/auth/keys/reload',
    ],
    [
      'is reloadURL when one is given',
      { statusURL: 'http://a/keys/status', reloadURL: 'http://a/admin/reload' },
      'http://a/admin/reload',
    ],
  ])('%s', (_name, service, expected) => {
    expect(reloadUrlOf(service)).toBe(expected);
  });
});
