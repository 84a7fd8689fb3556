import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON records with the component name and level label', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'operator', destination }).info({ kind: 'SigningKeyRotation' }, 'reconciled');
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({
      component: 'operator',
      level: 'info',
      kind: 'SigningKeyRotation',
      msg: 'reconciled',
    });
  });

  it('redacts secret fields at the top level and nested two deep', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'auth-service', destination }).warn(
      {
        password: 'hunter2-secret',
        req: { headers: { authorization: 'Bearer eyJsecret' } },
        key: { privateJwk: { d: 'xyz-secret' } },
      },
      'login',
    );
    expect(lines[0]).not.toMatch(/hunter2-secret|eyJsecret|xyz-secret/);
    expect(lines[0]).toContain('[redacted]');
  });

  it('redacts the shared secret fields at any depth, in arrays, in any spelling, and in child bindings', () => {
    const { lines, destination } = capture();
    let deep: Record<string, unknown> = { currentPassword: 'deep-secret-1' };
    for (let i = 0; i < 10; i++) deep = { level: i, inner: deep };
    const logger = createLogger({ component: 'auth-service', destination }).child({
      enrollment_token: 'bound-secret-2',
    });
    logger.info(
      {
        deep,
        list: [{ recoveryCodes: ['RC-secret-3'] }, { recovery_code: 'RC-secret-4' }],
        body: { code: '123456', otpauthUri: 'otpauth://totp/x?secret=URI-secret-5' },
        headers: { 'X-Bootstrap-Token': 'boot-secret-6', Authorization: 'Bearer tok-secret-7' },
        mfa_pending_secret: 'pending-secret-8',
        kept: 'visible',
      },
      'shapes',
    );
    expect(lines[0]).not.toMatch(/secret-\d|123456/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ kept: 'visible', deep: { level: 9 } });
  });

  it('keeps every binding of a chain of child loggers (per controller, then per object)', () => {
    const { lines, destination } = capture();
    const root = createLogger({ component: 'operator', destination });
    root
      .child({ controller: 'widget' })
      .child({ namespace: 'ns', name: 'a', password: 'p4ss' })
      .info('reconciled');
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      component: 'operator',
      controller: 'widget',
      namespace: 'ns',
      name: 'a',
      password: '[redacted]',
    });
  });

  it('survives cycles and leaves non-secret values alone', () => {
    const { lines, destination } = capture();
    const a: Record<string, unknown> = { name: 'a' };
    a['self'] = a;
    createLogger({ component: 'operator', destination }).info({ a, count: 3, at: new Date(0) }, 'cycle');
    expect(JSON.parse(lines[0]!)).toMatchObject({ a: { name: 'a', self: '[redacted]' }, count: 3 });
  });
});
