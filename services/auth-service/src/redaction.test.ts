import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/log.js';

/**
 * Every request and response shape of auth-service's routes, with secret values, fed through the shared
 * logger as a careless call might (whole bodies, nested in wrappers, in arrays): none of the values may
 * appear in the output. The list of field names is lib/log.ts's SECRET_FIELDS, shared by every part.
 */
const S = (name: string) => `SECRET-${name}-${Math.random().toString(36).slice(2, 10)}`;

const shapes: Record<string, { request?: unknown; response?: unknown }> = {
  'POST /login': {
    request: { email: 'a@b.test', password: S('password'), mfaCode: '493817', recoveryCode: S('rc') },
    response: {
      accessToken: S('access'),
      refreshToken: S('refresh'),
      tokenType: 'Bearer',
      user: { id: 'u1' },
      enrollmentToken: S('enrollment'),
    },
  },
  'POST /refresh': {
    request: { refreshToken: S('refresh-in') },
    response: { accessToken: S('a2'), refreshToken: S('r2') },
  },
  'POST /logout': { request: { refreshToken: S('refresh-out') } },
  'POST /password/change': { request: { currentPassword: S('current'), newPassword: S('new') } },
  'POST /register-first': {
    request: { email: 'a@b.test', password: S('first'), bootstrapToken: S('boot') },
  },
  'POST /register': { request: { email: 'c@b.test', password: S('reg'), roles: ['user'] } },
  'POST /mfa/enroll/start': {
    response: { secret: S('totp'), otpauthUri: `otpauth://totp/NovaPOS:a?secret=${S('uri')}` },
  },
  'POST /mfa/enroll/complete': {
    request: { code: '602113' },
    response: { recoveryCodes: [S('rc1'), S('rc2')], accessToken: S('a3'), refreshToken: S('r3') },
  },
  'POST /mfa/recovery-codes/regenerate': {
    request: { code: '118822' },
    response: { recoveryCodes: [S('rc3')] },
  },
  'POST /mfa/disable': { request: { password: S('pw-disable'), code: '772211' } },
  'POST /api-keys': { request: { name: 'ci' }, response: { id: 'k1', prefix: 'abc', key: S('apikey') } },
  headers: {
    request: {
      authorization: `Bearer ${S('bearer')}`,
      'x-bootstrap-token': S('hdr-boot'),
      cookie: S('cookie'),
    },
  },
  storage: { response: { mfa_secret: S('col'), mfa_pending_secret: S('col2'), password_hash: S('hash') } },
};

function valuesOf(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(valuesOf);
  if (v && typeof v === 'object') return Object.values(v).flatMap(valuesOf);
  return [];
}

describe('log redaction of every route shape', () => {
  it('writes none of the secret values, however the shapes are nested', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ component: 'auth-service', destination, level: 'debug' });
    for (const [route, shape] of Object.entries(shapes)) {
      logger.info({ route, body: shape.request, response: shape.response }, 'as is');
      let wrapped: unknown = shape;
      for (let i = 0; i < 8; i++) wrapped = { level: i, nested: [wrapped] };
      logger.debug({ route, wrapped }, 'deep');
      logger.child({ req: shape.request }).warn({ res: shape.response }, 'child');
    }
    const out = lines.join('\n');
    const secrets = valuesOf(shapes).filter((v) => v.includes('SECRET-') || /^\d{6}$/.test(v));
    expect(secrets.length).toBeGreaterThan(25);
    expect(secrets.filter((s) => out.includes(s))).toEqual([]);
    expect(out).toContain('"route":"POST /login"');
  });
});
