import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { errorCode, expectNoSecrets, httpClient, startServiceWithKeys, type TestService } from './helpers.js';

const PASSWORD = 'Correct-Horse-42!battery';
const BOOTSTRAP = `nbt_${randomBytes(24).toString('base64url')}`;
// A deliberately slow argon2id: an answer that skipped the hash is a small fraction of one that did not.
const SLOW_ARGON2 = { ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '4' };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Finding: POST /register-first was on by default (the chart did not turn it off), hashed with argon2 before
 * any check, was limited only by the general per-IP limit, and told which tenants exist (409 vs 403). Now:
 * off unless AUTH_ALLOW_REGISTER_FIRST, and then only with the one-time bootstrap token; cheap checks first;
 * its own strict limit; one answer for every refusal.
 */
describe('bootstrap of the first admin (POST /register-first)', () => {
  const env = inject('env');

  it('is off by default', async () => {
    const { svc } = await startServiceWithKeys(env, 'bootstrap-default');
    try {
      const res = await httpClient(svc.url, 'fresh')('POST', '/register-first', {
        body: { email: 'first@fresh.test', password: PASSWORD },
      });
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('registration_closed');
      expect((await svc.db.query('SELECT 1 FROM users')).rowCount).toBe(0);
    } finally {
      await svc.close();
    }
  });

  describe('enabled, with a bootstrap token', () => {
    let svc: TestService;
    beforeAll(async () => {
      ({ svc } = await startServiceWithKeys(env, 'bootstrap', {
        serviceEnv: {
          ALLOW_REGISTER_FIRST: 'true',
          AUTH_BOOTSTRAP_TOKEN: BOOTSTRAP,
          AUTH_REGISTER_FIRST_PER_IP_PER_15_MINUTES: '8',
          ...SLOW_ARGON2,
        },
      }));
    });
    afterAll(async () => {
      await svc?.close();
    });

    const attempt = (tenant: string, token: string | undefined, email = 'first@boot.test') =>
      httpClient(svc.url, tenant)('POST', '/register-first', {
        body: { email, password: PASSWORD },
        headers: token === undefined ? {} : { 'x-bootstrap-token': token },
      });
    const envelope = (r: { body: Record<string, unknown> }) => {
      const { requestId: _r, ...rest } = r.body['error'] as Record<string, unknown>;
      return JSON.stringify(rest);
    };

    it('refuses a missing or wrong token with one answer, before any argon2 work', async () => {
      const hasher = new PasswordHasher({ memoryCost: 65536, timeCost: 4, parallelism: 1 });
      const t0 = performance.now();
      await hasher.hash(PASSWORD);
      const hashMs = performance.now() - t0;
      const times: number[] = [];
      const bodies = new Set<string>();
      for (const token of [undefined, 'wrong', `${BOOTSTRAP}x`]) {
        const s = performance.now();
        const res = await attempt('boot', token);
        times.push(performance.now() - s);
        expect(res.status).toBe(403);
        bodies.add(envelope(res));
      }
      expect([...bodies]).toEqual([
        JSON.stringify({ code: 'registration_closed', message: 'Self-registration is disabled.' }),
      ]);
      expect(
        median(times),
        `refusal ${median(times).toFixed(1)} ms vs one hash ${hashMs.toFixed(1)} ms`,
      ).toBeLessThan(hashMs / 3);
    });

    it('with the token, creates the tenant and its first admin once; the token is then spent', async () => {
      const res = await attempt('boot', BOOTSTRAP);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const again = await attempt('boot', BOOTSTRAP, 'second@boot.test');
      expect(again.status).toBe(403);
      expect(errorCode(again)).toBe('registration_closed');
    });

    it('tells nothing about which tenants exist: an existing and an unknown tenant get the same answer', async () => {
      const existing = await attempt('boot', BOOTSTRAP, 'third@boot.test');
      const unknown = await attempt('nosuch', BOOTSTRAP, 'third@boot.test');
      expect([existing.status, unknown.status]).toEqual([403, 403]);
      expect(envelope(existing)).toBe(envelope(unknown));
    });

    it('has its own strict per-address limit (429 rate_limited)', async () => {
      let last = await attempt('boot', 'wrong');
      for (let i = 0; i < 10 && last.status !== 429; i++) last = await attempt('boot', 'wrong');
      expect(last.status).toBe(429);
      expect(errorCode(last)).toBe('rate_limited');
    });

    it('logs no bootstrap token or password', () => {
      expectNoSecrets(svc.logs.text, { BOOTSTRAP, PASSWORD });
    });
  });
});
