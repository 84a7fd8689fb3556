import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaEventPublisher, kafkaConfigFromEnv } from '../../lib/kafka-events.js';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { createLogger } from '../../lib/log.js';
import { connectPostgres, type Db } from '../../lib/service-kit/db.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { freePort } from '../harness/ports.js';
import { type ManagedProcess, makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';
import { auditServiceEnv, startAuditProcess } from './support.js';

/**
 * Crashes under traffic (issue 20, "Done when"): the real audit-service process (main.ts) SIGKILLed in the
 * middle of its batches, then Kafka SIGKILLed while auth-service's outbox keeps publishing. Afterwards every
 * event is chained exactly once, the producer's sequence has no hole, and the chain verifies.
 */
let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let db: Db;
let auditProc: ManagedProcess | undefined;
let adminPort: number;
const logger = createLogger({ component: 'crash-test', destination: { write: () => {} } });

function startAudit(): Promise<ManagedProcess> {
  return startAuditProcess(
    'audit-service',
    adminPort,
    {
      ...auditServiceEnv(kafka, pgi),
      // Small batches: many transactions and offset commits to die between.
      AUDIT_BATCH_SIZE: '10',
      AUDIT_GAP_SLO_SECONDS: '60',
    },
    path.join(dir, 'logs'),
  );
}

async function chained(): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_logs');
  return Number(r.rows[0]!.n);
}

beforeAll(async () => {
  dir = makeRunDir('audit-crash');
  [kafka, pgi] = await Promise.all([startKafka(dir), startPostgres(dir)]);
  db = connectPostgres(pgi.url);
  adminPort = await freePort();
  auditProc = await startAudit();
});

afterAll(async () => {
  await auditProc?.stop();
  await db?.close();
  await Promise.all([kafka?.stop(), pgi?.process.stop()]);
  removeRunDir(dir);
});

describe('crashes under traffic', () => {
  it('loses nothing and chains nothing twice when the audit-service and then Kafka are killed', async () => {
    const auth = await KafkaEventPublisher.start({
      kafka: kafkaConfigFromEnv({
        KAFKA_BOOTSTRAP: kafka.bootstrap,
        KAFKA_USERNAME: kafka.services['auth-service'].username,
        KAFKA_PASSWORD: kafka.services['auth-service'].password,
      })!,
      db,
      producer: 'auth-service',
      logger,
      pollMs: 100,
    });
    let published = 0;
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await auth.publish(SECURITY_TOPICS.audit.name, {
          type: 'login_failed',
          trace_id: `c${published}`,
          tenant_id: `tenant-${published % 5}`,
          user_id: 'u1',
          actor_role: 'admin',
          request_id: `c${published}`,
          ip: '10.0.0.1',
        });
        published++;
      }
    };

    await publish(300);
    await waitUntil('the audit-service to be mid-stream', async () => (await chained()) >= 30, {
      timeoutMs: 60_000,
    });
    await auditProc!.crash();
    const atCrash = await chained();
    await publish(100);
    await kafka.crash();
    await publish(100); // into the outbox only: Kafka is down
    await kafka.startServer();
    auditProc = await startAudit();
    await publish(50);
    await auth.flush();
    await waitUntil(`all ${published} events chained`, async () => (await chained()) >= published, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    await auth.close();
    expect(atCrash).toBeLessThan(published);
    expect(await chained()).toBe(published);
    const seqs = await db.query<{ producer_seq: string }>(
      "SELECT producer_seq FROM audit_logs WHERE producer = 'auth-service' ORDER BY producer_seq",
    );
    expect(seqs.rows.map((r) => Number(r.producer_seq))).toEqual(
      Array.from({ length: published }, (_, i) => i + 1),
    );
    const verify = await fetch(`http://127.0.0.1:${adminPort}/audit/verify`);
    expect(await verify.json()).toMatchObject({ ok: true, checked: published });
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    expect(metrics).not.toMatch(/^audit_chain_gap_total\{[^}]*\} [1-9]/m);
  }, 300_000);
});
