import { describe, expect, it } from 'vitest';
import { ConfigError, envReader } from './env.js';

describe('envReader', () => {
  const env = envReader({
    PORT: ' 8085 ',
    EMPTY: '  ',
    RATE: '0.5',
    FLAG: 'yes',
    LIST: 'a, b,,c ',
    MODE: 'shadow',
    UPSTREAM: 'http://127.0.0.1:9000/',
    BAD_PORT: '70000',
    BAD_INT: '1.5',
    VAULT_TOKEN: 's.hunter2',
    REDIS_URL: 'redis://:pw@127.0.0.1:1/0',
  });

  it('reads trimmed values and treats empty as unset', () => {
    expect(env.port('PORT', 1)).toBe(8085);
    expect(env.string('EMPTY', 'fallback')).toBe('fallback');
    expect(env.optional('EMPTY')).toBeUndefined();
    expect(env.positive('RATE', 1)).toBe(0.5);
    expect(env.bool('FLAG', false)).toBe(true);
    expect(env.list('LIST', [])).toEqual(['a', 'b', 'c']);
    expect(env.oneOf('MODE', ['enforce', 'shadow'], 'enforce')).toBe('shadow');
    expect(env.url('UPSTREAM')).toBe('http://127.0.0.1:9000');
    expect(env.int('MISSING', 7)).toBe(7);
  });

  it.each([
    [() => env.port('BAD_PORT', 1), 'BAD_PORT=70000: must be a port number 0-65535'],
    [() => env.int('BAD_INT', 1), 'BAD_INT=1.5: must be a whole number >= 0'],
    [() => env.int('PORT', 1, { min: 1, max: 100 }), 'PORT=8085: must be a whole number from 1 to 100'],
    [() => env.oneOf('MODE', ['a', 'b'], 'a'), 'MODE=shadow: must be one of a, b'],
    [() => env.bool('MODE', true), 'MODE=shadow: must be true or false'],
    [() => env.required('NOPE'), 'NOPE is required'],
  ])('refuses with one line naming the variable (%#)', (read, message) => {
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(message);
  });

  it('never quotes the value of a variable that can hold a secret', () => {
    const read = () => env.positive('VAULT_TOKEN', 1);
    expect(read).toThrow('VAULT_TOKEN=[redacted]: must be a number above 0');
    expect(() => env.bool('REDIS_URL', false)).toThrow('REDIS_URL=[redacted]');
    // Any database URL (the role Job's DATABASE_ADMIN_URL too): a malformed one can hold a password anywhere.
    const admin = envReader({ DATABASE_ADMIN_URL: 'admin:s3cret-pw@db/x' });
    expect(() => admin.url('DATABASE_ADMIN_URL', ['postgres:'])).toThrow('DATABASE_ADMIN_URL=[redacted]');
    expect(() => admin.url('DATABASE_ADMIN_URL', ['postgres:'])).not.toThrow('s3cret');
    expect(() => envReader({ UPSTREAM: 'ftp://user:s3cret@host/' }).url('UPSTREAM')).toThrow(
      'UPSTREAM=ftp://[redacted]@host/: must be an http(s) URL',
    );
  });

  it('reads URLs of the schemes a variable allows, naming them when refused', () => {
    const redis = ['redis:', 'rediss:'];
    expect(env.url('REDIS_URL', redis)).toBe('redis://:pw@127.0.0.1:1/0');
    expect(() => env.url('REDIS_URL')).toThrow('REDIS_URL=[redacted]: must be an http(s) URL');
    expect(() => env.url('UPSTREAM', redis)).toThrow(
      'UPSTREAM=http://127.0.0.1:9000/: must be a redis: or rediss: URL',
    );
    expect(() => envReader({ JWKS_URL: 'not a url' }).url('JWKS_URL')).toThrow(
      'JWKS_URL=not a url: must be an http(s) URL',
    );
  });

  it('runs a parser and reports what it refused', () => {
    const seconds = (t: string) => {
      const m = /^(\d+)s$/.exec(t);
      if (!m) throw new Error('no');
      return Number(m[1]);
    };
    expect(envReader({ D: '90s' }).parsed('D', 1, seconds, 'must be like 90s')).toBe(90);
    expect(() => envReader({ D: 'soon' }).parsed('D', 1, seconds, 'must be like 90s')).toThrow(
      'D=soon: must be like 90s',
    );
  });
});
