import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { startVault, type VaultInstance } from '../harness/components/vault.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';
import { readBack } from './helpers.js';
import { type AuthKeys, type AuthProcess, authKeys, post, seedUser, startAuthProcess } from './services.js';

/**
 * The transactional outbox in auth-service (issue 20): a sign-in's domain rows (the session's refresh token,
 * the success bookkeeping) and its `login_succeeded` outbox row commit in one transaction. The real
 * auth-service process is SIGKILLed while that transaction has written the session and waits to write the
 * event (the outbox table is locked by the test): neither survives. An outbox write that fails makes the
 * request fail and leaves no session either. What did commit reaches Kafka once, from the next process.
 */
const TENANT = 'atomic';
const EMAIL = 'clerk@atomic.test';
const PASSWORD = 'Outbox-Atomic-91!';
const OUTBOX = 'auth_service_event_outbox';

let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let vault: VaultInstance;
let keys: AuthKeys;
let auth: AuthProcess | undefined;
let sql: pg.Client;
let userId: string;

const start = () =>
  startAuthProcess(`${dir}/logs`, { databaseUrl: pgi.url, vault, keys, kafka, extra: { LOG_LEVEL: 'warn' } });

async function count(query: string, params: unknown[] = []): Promise<number> {
  const r = await sql.query<{ n: string }>(query, params);
  return Number(r.rows[0]!.n);
}
const sessions = () => count('SELECT count(*) AS n FROM auth_refresh_tokens WHERE user_id = $1', [userId]);
const loginEvents = () =>
  count(
    `SELECT count(*) AS n FROM ${OUTBOX} WHERE envelope->>'type' = 'login_succeeded' AND envelope->>'user_id' = $1`,
    [userId],
  );

beforeAll(async () => {
  dir = makeRunDir('auth-outbox');
  [kafka, pgi, vault] = await Promise.all([startKafka(dir), startPostgres(dir), startVault(dir)]);
  keys = await authKeys(vault, 'outbox');
  auth = await start();
  userId = await seedUser(pgi.url, { tenant: TENANT, email: EMAIL, password: PASSWORD });
  sql = new pg.Client({ connectionString: pgi.url });
  await sql.connect();
}, 240_000);

afterAll(async () => {
  await sql?.end().catch(() => {});
  await auth?.proc.stop();
  await Promise.all([kafka?.stop(), pgi?.process.stop(), vault?.process?.stop()]);
  removeRunDir(dir);
});

const login = () =>
  post(`${auth!.url}/login`, { email: EMAIL, password: PASSWORD }, { 'x-tenant-id': TENANT });

describe('auth-service writes its events in the transaction of the change', () => {
  it('a process killed between the session write and the event write leaves neither', async () => {
    expect(await sessions()).toBe(0);
    const locker = new pg.Client({ connectionString: pgi.url });
    await locker.connect();
    try {
      // Writes to the outbox wait (reads go on): the sign-in's transaction stops right before its event.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${OUTBOX} IN EXCLUSIVE MODE`);
      const inFlight = login().catch((err: unknown) => err);
      // The sign-in holds a row lock on auth_refresh_tokens (its session is written) and waits on the outbox.
      await waitUntil(
        'the sign-in transaction to have written its session and to wait on the outbox',
        async () => {
          const r = await sql.query<{ waiting: boolean; wrote_session: boolean }>(
            `SELECT a.wait_event_type = 'Lock' AND a.query LIKE 'INSERT INTO ${OUTBOX}%' AS waiting,
                    EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                             AND l.relation = 'auth_refresh_tokens'::regclass AND l.mode = 'RowExclusiveLock') AS wrote_session
               FROM pg_stat_activity a WHERE a.state = 'active' AND a.query LIKE 'INSERT INTO ${OUTBOX}%'`,
          );
          return r.rows.some((row) => row.waiting && row.wrote_session);
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      await auth!.proc.crash();
      expect(await inFlight).toBeInstanceOf(Error); // the connection died with the process
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
    // PostgreSQL rolled the dead connection's transaction back: no session, no invented event.
    await waitUntil(
      'the dead backend to be gone',
      async () =>
        (await count(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'INSERT INTO ${OUTBOX}%'`,
        )) === 0,
      { timeoutMs: 10_000 },
    );
    expect(await sessions()).toBe(0);
    expect(await loginEvents()).toBe(0);

    auth = await start();
    const ok = await login();
    expect(ok.status).toBe(200);
    expect(await sessions()).toBe(1);
    expect(await loginEvents()).toBe(1);
  }, 180_000);

  it('a /login body that does not match its schema is refused at the route: 400 invalid_request, no event', async () => {
    const eventsBefore = await count(`SELECT count(*) AS n FROM ${OUTBOX}`);
    for (const [body, field] of [
      [{ email: EMAIL, password: 42 }, 'password'],
      [{ password: PASSWORD }, 'email'],
      [{ email: EMAIL, password: PASSWORD, mfaCode: 'x'.repeat(17) }, 'mfaCode'],
    ] as const) {
      const res = await post(`${auth!.url}/login`, body, { 'x-tenant-id': TENANT });
      expect(res.status).toBe(400);
      expect(res.body['error']).toMatchObject({ code: 'invalid_request', details: { field } });
    }
    expect(await count(`SELECT count(*) AS n FROM ${OUTBOX}`)).toBe(eventsBefore);
    const metrics = await (await fetch(`${auth!.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^auth_login_attempts_total\{tenant="unknown",outcome="invalid_request"\} 3$/m);
  });

  it('an event that cannot be written fails the request and leaves no session (nothing lost)', async () => {
    const before = await sessions();
    const eventsBefore = await loginEvents();
    await sql.query(
      `ALTER TABLE ${OUTBOX} ADD CONSTRAINT refuse_login_events CHECK (envelope->>'type' <> 'login_succeeded') NOT VALID`,
    );
    try {
      const res = await login();
      expect(res.status).toBe(500);
      expect((res.body['error'] as { code: string }).code).toBe('internal_error');
    } finally {
      await sql.query(`ALTER TABLE ${OUTBOX} DROP CONSTRAINT refuse_login_events`);
    }
    expect(await sessions()).toBe(before);
    expect(await loginEvents()).toBe(eventsBefore);
    // A failed sign-in's counter and its login_failed event also commit together.
    const failed = await post(
      `${auth!.url}/login`,
      { email: EMAIL, password: 'wrong-password-1' },
      { 'x-tenant-id': TENANT },
    );
    expect(failed.status).toBe(401);
    expect(
      await count(
        `SELECT count(*) AS n FROM ${OUTBOX} WHERE envelope->>'type' = 'login_failed' AND envelope->>'user_id' = $1`,
        [userId],
      ),
    ).toBe(1);
  }, 60_000);

  it('what committed reaches Kafka (at least once, one event id each), numbered without a gap', async () => {
    const messages = await readBack(kafka, [SECURITY_TOPICS.audit.name], (m) =>
      m.some((x) => x.value['type'] === 'login_failed' && x.value['user_id'] === userId),
    );
    // Delivery is at-least-once: a resend (a Kafka answer lost under load) repeats the id and the number.
    const byId = new Map<string, (typeof messages)[number]>();
    for (const m of messages) {
      const seen = byId.get(String(m.value['id']));
      if (seen) expect(m.value['producer_seq']).toBe(seen.value['producer_seq']);
      else byId.set(String(m.value['id']), m);
    }
    const events = [...byId.values()];
    const mine = events.filter((m) => m.value['user_id'] === userId);
    expect(mine.filter((m) => m.value['type'] === 'login_succeeded')).toHaveLength(1);
    expect(mine.every((m) => m.key === TENANT)).toBe(true);
    const seqs = events
      .filter((m) => m.value['producer'] === 'auth-service')
      .map((m) => Number(m.value['producer_seq']))
      .sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  }, 60_000);
});
