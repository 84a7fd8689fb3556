import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { sha256Hex } from '../../services/auth-service/src/domain/secrets.js';
import {
  errorCode,
  expectNoSecrets,
  type Http,
  httpClient,
  metricValue,
  startServiceWithKeys,
  type TestService,
} from './helpers.js';

const TENANT = 'graceco';
const PASSWORD = 'Correct-Horse-42!battery';
const REUSE_INTERVAL = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Finding: two concurrent refreshes of the same refresh token revoked the whole session family (a mobile
 * client on a flaky network logged its user out). Now, as Auth0's rotation "reuse interval": the immediately
 * previous token presented again within REFRESH_REUSE_INTERVAL_SECONDS is accepted once more and returns
 * another successor in the same family; any other reuse still revokes the family.
 */
describe('refresh-token rotation with a reuse interval', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  const secrets: Record<string, string> = { password: PASSWORD };

  const refresh = (refreshToken: string) => http('POST', '/refresh', { body: { refreshToken } });
  async function session(email: string): Promise<string> {
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createUser({
      tenantId: TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles: ['user'],
    });
    const res = await http('POST', '/login', { body: { email, password: PASSWORD } });
    expect(res.status).toBe(200);
    const token = String(res.body['refreshToken']);
    secrets[`r-${email}`] = token;
    return token;
  }
  const keep = (res: { body: Record<string, unknown> }, name: string) => {
    const t = String(res.body['refreshToken']);
    secrets[name] = t;
    return t;
  };

  beforeAll(async () => {
    ({ svc } = await startServiceWithKeys(env, 'refresh-grace', {
      serviceEnv: { REFRESH_REUSE_INTERVAL_SECONDS: String(REUSE_INTERVAL) },
    }));
    http = httpClient(svc.url, TENANT);
    await svc.repo.createTenant(TENANT, 'Grace Co');
  });

  afterAll(async () => {
    await svc?.close();
  });

  it('two concurrent refreshes of one token both succeed, in the same family, and the session lives on', async () => {
    const r0 = await session('flaky@graceco.test');
    const [a, b] = await Promise.all([refresh(r0), refresh(r0)]);
    expect([a.status, b.status], JSON.stringify([a.body, b.body])).toEqual([200, 200]);
    const [ra, rb] = [keep(a, 'ra'), keep(b, 'rb')];
    expect(ra).not.toBe(rb);
    // Same session: the access tokens carry the same sid.
    const sid = (t: unknown) =>
      JSON.parse(Buffer.from(String(t).split('.')[1]!, 'base64url').toString())['sid'] as string;
    expect(sid(a.body['accessToken'])).toBe(sid(b.body['accessToken']));
    // Whichever answer the client kept, it goes on refreshing.
    expect((await refresh(rb)).status).toBe(200);
  });

  it('a third presentation of the same token, even within the interval, is reuse: the family is revoked', async () => {
    const r0 = await session('thrice@graceco.test');
    const first = await refresh(r0);
    const second = await refresh(r0);
    expect([first.status, second.status]).toEqual([200, 200]);
    const reuseBefore = await metricValue(svc.adminUrl, 'auth_refresh_token_reuse_total', {});
    const third = await refresh(r0);
    expect(errorCode(third)).toBe('refresh_token_reused');
    expect(await metricValue(svc.adminUrl, 'auth_refresh_token_reuse_total', {})).toBe(reuseBefore + 1);
    expect(errorCode(await refresh(keep(first, 'f1')))).not.toBeUndefined();
    expect((await refresh(keep(second, 's1'))).status).toBe(401);
  });

  it('a reuse after the interval revokes the family', async () => {
    const r0 = await session('late@graceco.test');
    const next = await refresh(r0);
    expect(next.status).toBe(200);
    await sleep(REUSE_INTERVAL * 1000 + 600);
    expect(errorCode(await refresh(r0))).toBe('refresh_token_reused');
    expect((await refresh(keep(next, 'n1'))).status).toBe(401);
  });

  it('a token older than the immediately previous one is reuse, even within the interval', async () => {
    const r0 = await session('older@graceco.test');
    const r1 = keep(await refresh(r0), 'o1');
    const r2 = keep(await refresh(r1), 'o2');
    expect(errorCode(await refresh(r0))).toBe('refresh_token_reused');
    expect((await refresh(r2)).status).toBe(401);
  });

  it('stores refresh tokens only as hashes', async () => {
    const r0 = await session('hashed@graceco.test');
    const rows = await svc.db.query<{ token_hash: string }>(
      'SELECT token_hash FROM auth_refresh_tokens WHERE token_hash = $1',
      [sha256Hex(r0)],
    );
    expect(rows.rowCount).toBe(1);
    const dump = JSON.stringify((await svc.db.query('SELECT * FROM auth_refresh_tokens')).rows);
    expectNoSecrets(dump, secrets);
  });

  it('logs carry no refresh token', () => {
    expectNoSecrets(svc.logs.text, secrets);
  });
});
