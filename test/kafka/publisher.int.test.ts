import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaEventPublisher, kafkaConfigFromEnv } from '../../lib/kafka-events.js';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { createLogger } from '../../lib/log.js';
import { connectPostgres, type Db } from '../../lib/service-kit/db.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';
import { readBack } from './helpers.js';

/**
 * The outbox publisher against the real broker and PostgreSQL: envelopes keyed by tenant with a gapless
 * per-producer sequence, nothing lost while Kafka is down or when the process dies before the relay ran,
 * and no secret in what reaches Kafka.
 */
let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let db: Db;
const logLines: string[] = [];
const logger = createLogger({
  component: 'publisher-test',
  destination: { write: (s: string) => void logLines.push(s) },
});

beforeAll(async () => {
  dir = makeRunDir('kafka-publisher');
  [kafka, pgi] = await Promise.all([startKafka(dir), startPostgres(dir)]);
  db = connectPostgres(pgi.url);
});

afterAll(async () => {
  await db?.close();
  await Promise.all([kafka?.stop(), pgi?.process.stop()]);
  removeRunDir(dir);
});

function creds(service: 'auth-service' | 'integration-gateway') {
  const c = kafka.services[service];
  return kafkaConfigFromEnv({
    KAFKA_BOOTSTRAP: kafka.bootstrap,
    KAFKA_USERNAME: c.username,
    KAFKA_PASSWORD: c.password,
  })!;
}

/** A valid event (lib/event-schemas.ts): `mfa_failed` unless `extra` says otherwise. */
const event = (i: number, extra: Record<string, unknown> = {}) => ({
  type: 'mfa_failed',
  trace_id: `trace-${i}`,
  tenant_id: `tenant-${i % 3}`,
  user_id: `user-${i}`,
  actor_role: 'cashier',
  outcome: 'mfa_invalid',
  request_id: `req-${i}`,
  ip: '10.0.0.1',
  ...extra,
});

describe('KafkaEventPublisher', () => {
  it('delivers envelopes keyed by tenant, numbered 1..n without a gap, with no secret', async () => {
    const pub = await KafkaEventPublisher.start({
      kafka: creds('auth-service'),
      db,
      producer: 'auth-service',
      logger,
    });
    for (let i = 0; i < 20; i++) {
      await pub.publish(
        SECURITY_TOPICS.mfaActivity.name,
        event(i, {
          password: 'hunter2-secret',
          mfa_code: '123456',
          refresh_token: 'rt-secret',
          code: '654321',
        }),
      );
    }
    await pub.flush();
    const got = await readBack(kafka, [SECURITY_TOPICS.mfaActivity.name], (m) => m.length >= 20);
    const mine = got.filter((m) => m.value.producer === 'auth-service');
    expect(mine).toHaveLength(20);
    for (const m of mine) {
      expect(m.key).toBe(m.value.tenant_id);
      expect(m.value).toMatchObject({ type: 'mfa_failed', schema_version: 1, actor_role: 'cashier' });
      expect(typeof m.value.id).toBe('string');
      expect(m.headers['event-seq']).toBe(String(m.value.producer_seq));
      expect(m.raw).not.toMatch(
        /hunter2|123456|654321|rt-secret|"password"|"refresh_token"|"mfa_code"|"code"/,
      );
    }
    const seqs = mine.map((m) => Number(m.value.producer_seq)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(mine.map((m) => m.value.id)).size).toBe(20);
    await pub.close();
  });

  it('keeps events while Kafka is down and delivers them when it is back', async () => {
    const pub = await KafkaEventPublisher.start({
      kafka: creds('integration-gateway'),
      db,
      producer: 'integration-gateway',
      logger,
      pollMs: 200,
    });
    await kafka.crash();
    for (let i = 0; i < 10; i++)
      await pub.publish(
        SECURITY_TOPICS.audit.name,
        event(100 + i, { type: 'api_key_created', key_prefix: 'npk_1', api_key_id: `k${i}` }),
      );
    expect((await pub.outbox.backlog()).count).toBe(10);
    await kafka.startServer();
    await waitUntil('the outbox to drain', async () => (await pub.outbox.backlog()).count === 0, {
      timeoutMs: 60_000,
    });
    const got = await readBack(
      kafka,
      [SECURITY_TOPICS.audit.name],
      (m) => m.filter((x) => x.value.producer === 'integration-gateway').length >= 10,
    );
    const seqs = got
      .filter((x) => x.value.producer === 'integration-gateway')
      .map((x) => Number(x.value.producer_seq));
    expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    await pub.close();
    expect(logLines.join('\n')).not.toContain(kafka.services['integration-gateway'].password);
  }, 180_000);

  it('delivers what a dead process left in the outbox when the next one starts, continuing the sequence', async () => {
    // A publisher whose relay never runs stands for a process killed right after the write.
    const dead = await KafkaEventPublisher.start({
      kafka: creds('auth-service'),
      db,
      producer: 'auth-service',
      logger,
      relay: false,
    });
    for (let i = 0; i < 5; i++)
      await dead.publish(SECURITY_TOPICS.audit.name, event(200 + i, { type: 'logout', family_id: `f${i}` }));
    expect((await dead.outbox.backlog()).count).toBeGreaterThanOrEqual(5);
    const next = await KafkaEventPublisher.start({
      kafka: creds('auth-service'),
      db,
      producer: 'auth-service',
      logger,
    });
    await waitUntil('the outbox to drain', async () => (await next.outbox.backlog()).count === 0, {
      timeoutMs: 30_000,
    });
    const got = await readBack(
      kafka,
      [SECURITY_TOPICS.audit.name],
      (m) => m.filter((x) => x.value.type === 'logout').length >= 5,
    );
    const seqs = got.filter((x) => x.value.type === 'logout').map((x) => Number(x.value.producer_seq));
    expect(seqs.sort((a, b) => a - b)).toEqual([21, 22, 23, 24, 25]);
    await next.close();
  });
});
