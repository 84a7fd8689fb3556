import { describe, expect, it } from 'vitest';
import { normalise, parseTarget } from './target.js';

describe('parseTarget: origin-form only, one normalised path', () => {
  it.each([
    ['absolute-form', 'http://127.0.0.1:9000/api/x'],
    ['absolute-form with userinfo', 'http://u:p@internal/api/x'],
    ['authority-form', '127.0.0.1:9000'],
    ['asterisk-form', '*'],
    ['relative', 'api/x'],
    ['a fragment', '/api/x#frag'],
    ['empty', ''],
  ])('refuses %s as invalid_request_target', (_name, raw) => {
    expect(parseTarget(raw)).toBe('invalid_request_target');
  });

  it.each([
    ['/api/%2e%2e%2fadmin', 'an encoded slash'],
    ['/api/..%2Fadmin', 'an encoded slash, upper case'],
    ['/api/..%5cadmin', 'an encoded backslash'],
    ['/api/..\\admin', 'a raw backslash'],
    ['/api/x%00', 'an encoded NUL'],
    ['/api/%252e%252e/admin', 'double encoding'],
    ['/api/%ZZ', 'a bad escape'],
    ['/api/%2', 'a truncated escape'],
    ['/api/a b', 'a raw space'],
    ['/api/a"b', 'a raw quote'],
    ['/api/{x}', 'raw braces'],
    ['/api/caf\u00e9', 'a raw non-ASCII character'],
    ['/../api/x', 'a .. above the root'],
    ['/api/../../x', 'a .. above the root, later'],
    ['/%2e%2e/api/x', 'an encoded .. above the root'],
    ['/api/x?q=a b', 'a raw space in the query'],
  ])('refuses %s (%s) as invalid_path', (raw) => {
    expect(parseTarget(raw)).toBe('invalid_path');
  });

  it.each([
    ['/api/orders/1', '/api/orders/1', '', true],
    ['/api/./orders/1', '/api/orders/1', '', true],
    ['/api//orders///1', '/api/orders/1', '', true],
    ['/api/%6Frders/1', '/api/orders/1', '', true],
    ['/%61pi/orders', '/api/orders', '', true],
    ['/api/orders/x/../1', '/api/orders/1', '', true],
    ['/api/orders/', '/api/orders/', '', true],
    ['/api/orders/.', '/api/orders/', '', true],
    ['/api/orders/x/..', '/api/orders/', '', true],
    ['/api/a%20b?q=%2F..&r=1', '/api/a%20b', '?q=%2F..&r=1', true],
    ['/api/caf%c3%a9', '/api/caf%C3%A9', '', true],
    ['/api/%7euser', '/api/~user', '', true],
    ['/api/../admin', '/admin', '', true],
    ['/api/%2e%2e/admin', '/admin', '', true],
    ['/api/.%2e/admin', '/admin', '', true],
    ['//evil.example/api/x', '/evil.example/api/x', '', false],
    ['/healthz', '/healthz', '', false],
    ['/', '/', '', false],
    ['/api', '/api', '', false],
    ['/api/.well-known/x', '/api/.well-known/x', '', true],
    ['/api/a..b/..c/...', '/api/a..b/..c/...', '', true],
    ['/api/orders/1?page=2', '/api/orders/1', '?page=2', true],
  ])('%s → path %s, query %s', (raw, path, query, claimsApi) => {
    expect(parseTarget(raw)).toEqual({ path, query, claimsApi });
  });

  it('answers a path that is already normal (the fast path) exactly as the full normalisation does', () => {
    const segments = [
      'api',
      'orders',
      '1',
      '.',
      '..',
      '',
      '.x',
      'x.',
      '..x',
      '%41',
      'a~b',
      "!$&'()*+,;=:@",
      '-_',
    ];
    let compared = 0;
    for (const a of segments)
      for (const b of segments)
        for (const c of segments)
          for (const tail of ['', '/']) {
            const path = `/${a}/${b}/${c}${tail}`;
            const full = normalise(path, '');
            expect(parseTarget(path), path).toEqual(full);
            compared++;
          }
    expect(compared).toBe(2 * segments.length ** 3);
  });
});
