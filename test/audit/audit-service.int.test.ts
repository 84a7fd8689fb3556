import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaEventPublisher, kafkaConfigFromEnv } from '../../lib/kafka-events.js';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { computeKeysetHash } from '../../lib/keyset.js';
import { createLogger } from '../../lib/log.js';
import { connectPostgres, type Db } from '../../lib/service-kit/db.js';
import { HttpKeyStatusProbe } from '../../operator/src/adapters/services/key-status-probe.js';
import { configFromEnv } from '../../services/audit-service/src/config.js';
import { type RunningAuditService, startAuditService } from '../../services/audit-service/src/server.js';
import { migrate } from '../../services/audit-service/src/storage/repo.js';
import { bootstrapAuditRole } from '../../services/audit-service/src/storage/roles.js';
import { type KafkaInstance, saslOptions, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';

/**
 * The audit-service against the real broker and PostgreSQL (issue 20): events published through the outbox
 * by real producers are chained; a duplicate is stored once; a tampered row is named by verify; a missing
 * producer sequence number is a gap after the SLO; the service catches up after a restart; its admin port
 * reports the key set its query API verifies with and reloads it on notice (a SigningKeyRotation lists it).
 */
let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let db: Db;
let audit: RunningAuditService | undefined;
const logLines: string[] = [];
const logger = createLogger({
  component: 'audit-test',
  destination: { write: (s: string) => void logLines.push(s) },
});

const ADMIN_TOKEN = 'drill-admin-token-0123456789abcdef';
const AUDIT_ROLE = 'novapos_audit';
const AUDIT_ROLE_PASSWORD = 'audit-role-password-for-tests';
const roleUrl = () => {
  const u = new URL(pgi.url);
  u.username = AUDIT_ROLE;
  u.password = AUDIT_ROLE_PASSWORD;
  return u.toString();
};
const auditEnv = () => ({
  // The service runs as its insert-only role; the migrations as the tables' owner.
  DATABASE_URL: roleUrl(),
  DATABASE_ADMIN_URL: pgi.url,
  KAFKA_BOOTSTRAP: kafka.bootstrap,
  KAFKA_USERNAME: kafka.services['audit-service'].username,
  KAFKA_PASSWORD: kafka.services['audit-service'].password,
  ADMIN_PORT: '0',
  ADMIN_HOST: '127.0.0.1',
  AUDIT_GAP_SLO_SECONDS: '2',
  AUDIT_ADMIN_TOKEN: ADMIN_TOKEN,
  AUDIT_CHECK_INTERVAL_MS: '200',
  LOG_LEVEL: 'info',
});
const startAudit = (extraEnv: Record<string, string> = {}) =>
  startAuditService(configFromEnv({ ...auditEnv(), ...extraEnv }), {
    logDestination: { write: (s: string) => void logLines.push(s) },
  });

const publisher = (service: 'auth-service' | 'integration-gateway') =>
  KafkaEventPublisher.start({
    kafka: kafkaConfigFromEnv({
      KAFKA_BOOTSTRAP: kafka.bootstrap,
      KAFKA_USERNAME: kafka.services[service].username,
      KAFKA_PASSWORD: kafka.services[service].password,
    })!,
    db,
    producer: service,
    logger,
  });

async function chainLength(): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_logs');
  return Number(r.rows[0]!.n);
}

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${audit!.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(labels));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function sendRaw(value: string, topic = SECURITY_TOPICS.audit.name) {
  const p = new Producer({
    clientId: 'raw',
    bootstrapBrokers: [kafka.bootstrap],
    serializers: stringSerializers,
    sasl: saslOptions(kafka.services['auth-service']),
  });
  try {
    await p.send({ messages: [{ topic, key: 'acme', value }] });
  } finally {
    await p.close();
  }
}

/** auth-service's JWKS endpoint as verifiers see it: the published keys, `X-Keyset-Hash`, a max-age. */
async function startIssuer(keys: JWK[], activeKid: string) {
  const state = { keys, activeKid, fetches: 0 };
  const server = http.createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    state.fetches++;
    const jwks = { keys: state.keys };
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'public, max-age=300',
      'x-keyset-hash': computeKeysetHash(jwks, state.activeKid),
    });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    state,
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function signingKey(kid: string): Promise<{ kid: string; privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

beforeAll(async () => {
  dir = makeRunDir('audit-service');
  [kafka, pgi] = await Promise.all([startKafka(dir), startPostgres(dir)]);
  db = connectPostgres(pgi.url);
  await migrate(db);
  await bootstrapAuditRole({ adminUrl: pgi.url, role: AUDIT_ROLE, password: AUDIT_ROLE_PASSWORD });
  audit = await startAudit();
});

afterAll(async () => {
  await audit?.close();
  await db?.close();
  await Promise.all([kafka?.stop(), pgi?.process.stop()]);
  removeRunDir(dir);
});

describe('audit-service', () => {
  it('chains what auth-service and the gateway publish, on every security topic, and the chain verifies', async () => {
    const auth = await publisher('auth-service');
    const gw = await publisher('integration-gateway');
    for (let i = 0; i < 10; i++) {
      const base = {
        trace_id: `t${i}`,
        tenant_id: i % 2 ? 'acme' : 'globex',
        user_id: `u${i}`,
        actor_role: 'admin',
        request_id: `r${i}`,
        ip: '10.0.0.1',
      };
      await auth.publish(SECURITY_TOPICS.mfaActivity.name, {
        ...base,
        type: 'mfa_failed',
        outcome: 'mfa_invalid',
      });
      await auth.publish(SECURITY_TOPICS.audit.name, { ...base, type: 'logout', family_id: `f${i}` });
      const { request_id: _r, ip: _ip, ...gwBase } = base;
      await gw.publish(SECURITY_TOPICS.alerts.name, {
        ...gwBase,
        type: 'gateway_signature_failures',
        severity: 'critical',
        description: 'forged tokens',
        count: 12,
        threshold: 11,
        window_seconds: 60,
        source: 'integration-gateway',
        detected_at: new Date().toISOString(),
      });
    }
    await Promise.all([auth.flush(), gw.flush()]);
    await waitUntil('30 events chained', async () => (await chainLength()) === 30, { timeoutMs: 60_000 });
    await Promise.all([auth.close(), gw.close()]);

    const verify = await fetch(`${audit!.adminUrl}/audit/verify`);
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ ok: true, checked: 30, head: { seq: 30 } });
    const rows = await db.query<{ seq: string; prev_hash: string; entry_hash: string }>(
      'SELECT seq, prev_hash, entry_hash FROM audit_logs ORDER BY seq',
    );
    for (let i = 1; i < rows.rows.length; i++)
      expect(rows.rows[i]!.prev_hash).toBe(rows.rows[i - 1]!.entry_hash);
    expect(
      await metric(
        'audit_events_processed_total',
        `topic="${SECURITY_TOPICS.alerts.name}",outcome="chained"`,
      ),
    ).toBe(10);

    // The query endpoint: by tenant and type, paginated (the operations token reads every tenant; users'
    // tokens: test/kafka/security-events-e2e.int.test.ts). Without a bearer: 401.
    const anonymous = await fetch(`${audit!.adminUrl}/audit/events?tenant_id=acme`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const asAdmin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
    const page = await fetch(
      `${audit!.adminUrl}/audit/events?tenant_id=acme&event_type=mfa_failed&limit=3`,
      asAdmin,
    );
    const body = (await page.json()) as {
      events: { seq: number; event: Record<string, unknown> }[];
      next_after_seq: number;
    };
    expect(body.events).toHaveLength(3);
    for (const e of body.events) expect(e.event).toMatchObject({ tenant_id: 'acme', type: 'mfa_failed' });
    const next = await fetch(
      `${audit!.adminUrl}/audit/events?tenant_id=acme&event_type=mfa_failed&limit=3&after_seq=${body.next_after_seq}`,
      asAdmin,
    );
    expect(((await next.json()) as { events: unknown[] }).events).toHaveLength(2);
  });

  it('stores a duplicate once', async () => {
    const before = await chainLength();
    const envelope = JSON.stringify({
      id: randomUUID(),
      type: 'api_key_created',
      schema_version: 1,
      occurred_at: new Date().toISOString(),
      producer: null,
      producer_seq: null,
      trace_id: 't',
      tenant_id: 'acme',
      user_id: 'u1',
      actor_role: 'admin',
      data: { key_prefix: 'npk_1' },
    });
    await sendRaw(envelope);
    await sendRaw(envelope);
    await waitUntil(
      'the duplicate to be seen',
      async () => (await metric('audit_events_processed_total', 'outcome="duplicate"')) >= 1,
      {
        timeoutMs: 30_000,
      },
    );
    expect(await chainLength()).toBe(before + 1);
  });

  it('names the first broken link of a tampered row', async () => {
    const admin = new pg.Client({ connectionString: pgi.url });
    await admin.connect();
    try {
      await admin.query('SET session_replication_role = replica'); // past the append-only trigger, as a DBA could
      await admin.query("UPDATE audit_logs SET tenant_id = 'evil' WHERE seq = 5");
      const res = await fetch(`${audit!.adminUrl}/audit/verify`);
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({
        ok: false,
        firstBroken: { seq: 5, reason: 'entry_hash_mismatch' },
      });
      expect(await metric('audit_verify_ok')).toBe(0);
      const orig = await db.query<{ payload: string }>('SELECT payload FROM audit_logs WHERE seq = 5');
      const tenant = (JSON.parse(orig.rows[0]!.payload) as { tenant_id: string }).tenant_id;
      await admin.query('UPDATE audit_logs SET tenant_id = $1 WHERE seq = 5', [tenant]);
    } finally {
      await admin.end();
    }
    expect((await fetch(`${audit!.adminUrl}/audit/verify`)).status).toBe(200);
    // And the schema refuses the same edit without the bypass.
    await expect(db.query("UPDATE audit_logs SET tenant_id = 'evil' WHERE seq = 5")).rejects.toThrow(
      /append-only/,
    );
  });

  it('runs as a role that may only read and append: update, delete, truncate and alter are refused', async () => {
    const role = connectPostgres(roleUrl());
    try {
      expect(
        Number((await role.query<{ n: string }>('SELECT count(*) AS n FROM audit_logs')).rows[0]!.n),
      ).toBeGreaterThan(0);
      for (const sql of [
        "UPDATE audit_logs SET tenant_id = 'evil' WHERE seq = 1",
        'DELETE FROM audit_logs WHERE seq = 1',
        'TRUNCATE audit_logs',
        'ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only',
        'DROP TABLE audit_logs',
        'CREATE TABLE audit_shadow (x int)',
      ]) {
        await expect(role.query(sql), sql).rejects.toMatchObject({
          code: expect.stringMatching(/^(42501)$/),
        });
      }
    } finally {
      await role.close();
    }
  });

  it('counts a missing producer sequence number as a gap once the SLO has passed', async () => {
    const event = (seq: number) =>
      JSON.stringify({
        id: randomUUID(),
        type: 'login_failed',
        schema_version: 1,
        occurred_at: new Date().toISOString(),
        producer: 'gap-producer',
        producer_seq: seq,
        trace_id: null,
        tenant_id: 'acme',
        user_id: null,
        actor_role: null,
        data: {},
      });
    await sendRaw(event(1));
    await sendRaw(event(3));
    await waitUntil(
      'the gap to be counted',
      async () => (await metric('audit_chain_gap_total', 'producer="gap-producer"')) === 1,
      {
        timeoutMs: 30_000,
      },
    );
    await sendRaw(event(2));
    await waitUntil(
      'the hole to close',
      async () => (await metric('audit_chain_gap_open_seconds', 'producer="gap-producer"')) === 0,
      {
        timeoutMs: 30_000,
      },
    );
    expect(await metric('audit_chain_gap_total', 'producer="gap-producer"')).toBe(1);
  });

  it('pauses chaining through the authenticated admin route and catches up on resume (the DR drill step)', async () => {
    const pause = (auth: string | undefined, seconds: string) =>
      fetch(`${audit!.adminUrl}/audit/consumer/pause?seconds=${seconds}`, {
        method: 'POST',
        headers: auth ? { authorization: `Bearer ${auth}` } : {},
      });
    expect((await pause(undefined, '30')).status).toBe(401);
    expect((await pause('wrong-token-wrong-token-wrong', '30')).status).toBe(401);
    expect((await pause(ADMIN_TOKEN, '99999')).status).toBe(400);
    const readyz = async () => {
      const res = await fetch(`${audit!.adminUrl}/readyz`);
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', consumer: 'running', signing: 'off' } },
    });
    expect((await pause(ADMIN_TOKEN, '30')).status).toBe(202);
    expect(await metric('audit_consumer_paused')).toBe(1);
    // Paused on purpose (Kafka keeps the events): still ready, and the probe says why it is not consuming.
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', consumer: 'paused', signing: 'off' } },
    });
    const before = await chainLength();
    const auth = await publisher('auth-service');
    for (let i = 0; i < 10; i++)
      await auth.publish(SECURITY_TOPICS.audit.name, {
        type: 'login_failed',
        trace_id: null,
        tenant_id: 'acme',
        user_id: 'u',
        actor_role: 'admin',
        request_id: 'r',
        ip: '10.0.0.1',
      });
    await auth.flush();
    await auth.close();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await chainLength()).toBe(before);
    const resumed = await fetch(`${audit!.adminUrl}/audit/consumer/resume`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(resumed.status).toBe(200);
    await waitUntil('the paused events to be chained', async () => (await chainLength()) === before + 10, {
      timeoutMs: 30_000,
    });
    expect(await metric('audit_consumer_paused')).toBe(0);
    // Time-bounded: a 1 s pause ends by itself.
    expect((await pause(ADMIN_TOKEN, '1')).status).toBe(202);
    await waitUntil('the pause to end by itself', async () => (await metric('audit_consumer_paused')) === 0, {
      timeoutMs: 10_000,
    });
    expect(logLines.join('\n')).not.toContain(ADMIN_TOKEN);
  });

  it('catches up after a restart: everything produced meanwhile is chained once, with no gap', async () => {
    await audit!.close();
    audit = undefined;
    const before = await chainLength();
    const auth = await publisher('auth-service');
    for (let i = 0; i < 25; i++) {
      await auth.publish(SECURITY_TOPICS.audit.name, {
        type: 'login_failed',
        trace_id: `r${i}`,
        tenant_id: 'acme',
        user_id: 'u1',
        actor_role: 'admin',
        request_id: `r${i}`,
        ip: '10.0.0.1',
      });
    }
    await auth.flush();
    await auth.close();
    audit = await startAudit();
    await waitUntil('the 25 events to be chained', async () => (await chainLength()) === before + 25, {
      timeoutMs: 60_000,
    });
    const seqs = await db.query<{ producer_seq: string }>(
      "SELECT producer_seq FROM audit_logs WHERE producer = 'auth-service' ORDER BY producer_seq",
    );
    const numbers = seqs.rows.map((r) => Number(r.producer_seq));
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 1));
    expect(audit.gaps.contiguous('auth-service')).toBe(numbers.length);
    expect((await (await fetch(`${audit.adminUrl}/audit/verify`)).json()) as unknown).toMatchObject({
      ok: true,
    });
    expect(logLines.join('\n')).not.toContain(kafka.services['audit-service'].password);
  });

  it('reports the JWKS its query API verifies with at GET /keys/status on the admin port, and POST /keys/reload picks up a new set', async () => {
    const url = () => audit!.adminUrl;
    const keyStatus = async () => {
      const res = await fetch(`${url()}/keys/status`);
      expect(res.status).toBe(200);
      return (await res.json()) as { keysetHash: string | null; kids: string[]; loadedAt: string | null };
    };
    // Without AUDIT_JWKS_URL the query API verifies no tokens: no key set, as the gateway without JWT auth.
    expect(await keyStatus()).toEqual({ keysetHash: null, kids: [], activeKid: null, loadedAt: null });

    const [k1, k2] = await Promise.all([signingKey('audit-k1'), signingKey('audit-k2')]);
    const issuer = await startIssuer([k1.publicJwk], k1.kid);
    try {
      await audit!.close();
      audit = undefined;
      audit = await startAudit({ AUDIT_JWKS_URL: issuer.jwksUrl });

      // Loaded at start, before any query: the operator sees from the start what this replica verifies with.
      const first = await keyStatus();
      expect(first).toMatchObject({
        keysetHash: computeKeysetHash({ keys: [k1.publicJwk] }, k1.kid),
        kids: [k1.kid],
        activeKid: null,
      });
      expect(Date.parse(first.loadedAt ?? '')).not.toBeNaN();

      // The operator's own probe reads it as it reads the other services (the admin port is the Service's only one).
      const probe = new HttpKeyStatusProbe();
      expect(await probe.status(`${url()}/keys/status`)).toEqual(first);

      // The rotation publishes a next key: the reload fetches at once and answers the new set.
      issuer.state.keys = [k1.publicJwk, k2.publicJwk];
      issuer.state.activeKid = k2.kid;
      const fetchesBefore = issuer.state.fetches;
      const reload = await fetch(`${url()}/keys/reload`, { method: 'POST' });
      expect(reload.status).toBe(202);
      const second = (await reload.json()) as { keysetHash: string; loadedAt: string };
      expect(issuer.state.fetches).toBe(fetchesBefore + 1);
      expect(second).toMatchObject({
        keysetHash: computeKeysetHash({ keys: [k1.publicJwk, k2.publicJwk] }, k2.kid),
        kids: [k1.kid, k2.kid],
        activeKid: null,
      });
      expect(second.keysetHash).not.toBe(first.keysetHash);
      expect(Date.parse(second.loadedAt)).toBeGreaterThan(Date.parse(first.loadedAt ?? ''));
      expect(await keyStatus()).toEqual(second);

      // The same set again (the operator notifies on every change of the resource): loadedAt stays.
      expect(await probe.reload(`${url()}/keys/reload`)).toBe(true);
      expect(issuer.state.fetches).toBe(fetchesBefore + 2);
      expect(await keyStatus()).toEqual(second);

      // The reloaded set is the one the query API verifies with: a token from the new key reads its tenant.
      const token = await new SignJWT({ tid: 'acme', roles: ['auditor'], amr: ['pwd', 'mfa'] })
        .setProtectedHeader({ alg: 'ES256', kid: k2.kid })
        .setIssuer('https://auth.novapos.local')
        .setAudience('novapos-api')
        .setSubject('auditor-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(k2.privateKey);
      const events = await fetch(`${url()}/audit/events?limit=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(events.status).toBe(200);
      expect(issuer.state.fetches).toBe(fetchesBefore + 2);
    } finally {
      await issuer.close();
    }
  });
});
