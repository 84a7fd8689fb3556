import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { newApiKey } from '../../services/auth-service/src/domain/secrets.js';
import { bootstrapDatabaseRoles } from '../../services/auth-service/src/storage/roles.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { expectNoSecrets, startServiceWithKeys, type TestService } from './helpers.js';

const TENANT = 'roleco';

/**
 * Finding: the gateway read auth-service's database with auth-service's credentials (it could read password
 * hashes and TOTP seeds, and write `users`). Now a privileged bootstrap step creates the gateway's own role,
 * which reads API keys only through the `gateway_api_keys` view and writes only its own tables.
 */
describe('least privilege: the gateway has its own database role', () => {
  const env = inject('env');
  let svc: TestService;
  let gateway: TestGateway;
  let gatewayUrl: string;
  const role = `gw_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');

  beforeAll(async () => {
    let databaseUrl: string;
    ({ svc, databaseUrl } = await startServiceWithKeys(env, 'dbroles'));
    // The admin credential (the harness's superuser) runs the bootstrap, as a Job would in a cluster.
    await bootstrapDatabaseRoles({ adminUrl: databaseUrl, gatewayRole: role, gatewayPassword: password });
    const u = new URL(databaseUrl);
    u.username = role;
    u.password = password;
    gatewayUrl = u.toString();
    await svc.repo.createTenant(TENANT, 'Role Co');
  });

  afterAll(async () => {
    await gateway?.close();
    await svc?.close();
  });

  async function asGateway<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: gatewayUrl });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }
  const denied = (sql: string) =>
    asGateway((c) => c.query(sql)).then(
      () => 'allowed',
      (err: { code?: string }) => err.code,
    );

  it('cannot read users (password hashes, TOTP secrets), refresh tokens, recovery codes or api_keys', async () => {
    for (const sql of [
      'SELECT password_hash, mfa_secret FROM users',
      'SELECT count(*) FROM users',
      'SELECT token_hash FROM auth_refresh_tokens',
      'SELECT code_hash FROM auth_recovery_codes',
      'SELECT key_hash, revoked_at FROM api_keys',
      'SELECT * FROM auth_login_failures',
    ]) {
      expect(await denied(sql), sql).toBe('42501'); // insufficient_privilege
    }
  });

  it('cannot write users or create roles', async () => {
    expect(await denied(`UPDATE users SET roles = '{admin}'`)).toBe('42501');
    expect(await denied(`INSERT INTO tenants (id, name) VALUES ('evil', 'evil')`)).toBe('42501');
    expect(await denied(`CREATE ROLE ${role}_x LOGIN`)).toBe('42501');
  });

  it('reads API keys through the view only, and the real gateway verifies an API key with this role', async () => {
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const userId = (await svc.repo.createUser({
      tenantId: TENANT,
      email: 'owner@roleco.test',
      passwordHash: await hasher.hash('Correct-Horse-42!battery'),
      roles: ['admin'],
    }))!;
    const { prefix, key } = newApiKey();
    await svc.repo.insertApiKey({
      tenantId: TENANT,
      createdBy: userId,
      name: 'ci',
      prefix,
      keyHash: await hasher.hash(key),
      scopes: [],
      expiresAt: null,
    });
    const viewed = await asGateway((c) =>
      c.query('SELECT * FROM gateway_api_keys WHERE prefix = $1', [prefix]),
    );
    expect(Object.keys(viewed.rows[0]).sort()).toEqual([
      'expires_at',
      'id',
      'key_hash',
      'prefix',
      'scopes',
      'tenant_id',
    ]);

    // The real gateway, with this role: its own migrations run, and API keys verify.
    gateway = await startTestGateway({
      REDIS_URL: env.redisUrl,
      DATABASE_URL: gatewayUrl,
      LOG_LEVEL: 'warn',
    });
    const ok = await fetch(`${gateway.url}/api/tenant/ping`, { headers: { 'x-api-key': key } });
    expect(ok.status).toBe(200);
    const unknown = newApiKey();
    const bad = await fetch(`${gateway.url}/api/tenant/ping`, { headers: { 'x-api-key': unknown.key } });
    expect(bad.status).toBe(401);
    expectNoSecrets(gateway.logs.text, { key, password });
  });
});
