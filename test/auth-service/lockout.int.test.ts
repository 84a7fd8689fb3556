import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { aPassword, errorCode, type Reply, request } from '../alerts/real-services.js';
import { startServiceWithKeys, type TestService } from './helpers.js';

const TENANT = 'lockco';
const PASSWORD = 'Correct-Horse-42!battery';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Finding: anyone could lock any account for ever (five wrong passwords locked tenant+email; one more each time
 * the lock expired kept it locked). Now: throttled by (account, client address) with growing, capped locks;
 * an account-wide limit far above it that never locks a known address; failures decay. Each client address is
 * a real loopback source address (127.0.0.x), read from the socket as in production (no proxy hop trusted).
 */
describe('login lockout an attacker cannot use against the owner', () => {
  const env = inject('env');
  let svc: TestService;
  let hasher: PasswordHasher;

  const login = (from: string, email: string, password = PASSWORD): Promise<Reply> =>
    request(svc.url, 'POST', '/login', { from, tenant: TENANT, body: { email, password } });
  const wrong = (from: string, email: string) => login(from, email, aPassword());

  async function aUser(email: string): Promise<void> {
    await svc.repo.createUser({
      tenantId: TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles: ['user'],
    });
  }

  beforeAll(async () => {
    ({ svc } = await startServiceWithKeys(env, 'lockout', {
      serviceEnv: {
        AUTH_LOCKOUT_THRESHOLD: '5',
        AUTH_LOCKOUT_BASE_SECONDS: '1',
        AUTH_LOCKOUT_MAX_SECONDS: '2',
        AUTH_LOCKOUT_ACCOUNT_THRESHOLD: '20',
        AUTH_LOCKOUT_FAILURE_RESET_SECONDS: '4',
        AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
        SUSPICIOUS_DISTINCT_ACCOUNTS_PER_IP: '1000',
      },
    }));
    hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createTenant(TENANT, 'Lock Co');
  });

  afterAll(async () => {
    await svc?.close();
  });

  it('failures from one address lock that address only: the owner signs in from a known address', async () => {
    await aUser('owner1@lockco.test');
    expect((await login('127.0.0.2', 'owner1@lockco.test')).status).toBe(200); // the owner's usual address
    for (let i = 0; i < 5; i++)
      expect(errorCode(await wrong('127.0.0.3', 'owner1@lockco.test'))).toBe('invalid_credentials');
    // The attacker's address is locked, even with the right password...
    expect(errorCode(await login('127.0.0.3', 'owner1@lockco.test'))).toBe('too_many_attempts');
    // ...the owner is not.
    expect((await login('127.0.0.2', 'owner1@lockco.test')).status).toBe(200);
  });

  it('the owner on a new address is not locked by failures from elsewhere below the account-wide limit', async () => {
    await aUser('owner2@lockco.test');
    for (let i = 0; i < 6; i++) await wrong('127.0.0.3', 'owner2@lockco.test');
    expect((await login('127.0.0.4', 'owner2@lockco.test')).status).toBe(200);
  });

  it('the lock of an address grows with each failure after it and is capped (AUTH_LOCKOUT_MAX_SECONDS)', async () => {
    await aUser('owner3@lockco.test');
    for (let i = 0; i < 5; i++) await wrong('127.0.0.5', 'owner3@lockco.test');
    // Locks of 1 s, 2 s, then 2 s (capped; uncapped it would be 4 s): after 2.1 s the address may try again.
    for (let round = 0; round < 3; round++) {
      expect(errorCode(await login('127.0.0.5', 'owner3@lockco.test'))).toBe('too_many_attempts');
      await sleep(2_100);
      expect(errorCode(await wrong('127.0.0.5', 'owner3@lockco.test'))).toBe('invalid_credentials');
    }
    // The owner elsewhere was never affected.
    expect((await login('127.0.0.6', 'owner3@lockco.test')).status).toBe(200);
  });

  it('past the account-wide limit, unknown addresses are locked but a known address still signs in', async () => {
    await aUser('owner4@lockco.test');
    expect((await login('127.0.0.2', 'owner4@lockco.test')).status).toBe(200);
    // 20 failures from 5 addresses, 4 each: no address reaches its own threshold; the account's is reached.
    for (let a = 10; a < 15; a++)
      for (let i = 0; i < 4; i++)
        expect(errorCode(await wrong(`127.0.0.${a}`, 'owner4@lockco.test'))).toBe('invalid_credentials');
    expect(errorCode(await login('127.0.0.20', 'owner4@lockco.test'))).toBe('too_many_attempts');
    expect((await login('127.0.0.2', 'owner4@lockco.test')).status).toBe(200);
  });

  it('an unknown account past the account-wide limit answers exactly as a known one (no enumeration)', async () => {
    for (let a = 30; a < 36; a++)
      for (let i = 0; i < 4; i++) await wrong(`127.0.0.${a}`, 'ghost@lockco.test');
    const r = await login('127.0.0.20', 'ghost@lockco.test');
    expect(errorCode(r)).toBe('too_many_attempts');
  });

  it('failures decay: spread out over more than AUTH_LOCKOUT_FAILURE_RESET_SECONDS they never lock', async () => {
    await aUser('owner5@lockco.test');
    for (let i = 0; i < 4; i++) await wrong('127.0.0.7', 'owner5@lockco.test');
    await sleep(4_300);
    for (let i = 0; i < 4; i++)
      expect(errorCode(await wrong('127.0.0.7', 'owner5@lockco.test'))).toBe('invalid_credentials');
    expect((await login('127.0.0.7', 'owner5@lockco.test')).status).toBe(200);
  });
});
