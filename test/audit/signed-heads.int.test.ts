import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaEventPublisher, kafkaConfigFromEnv } from '../../lib/kafka-events.js';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { createLogger } from '../../lib/log.js';
import { connectPostgres, type Db } from '../../lib/service-kit/db.js';
import { configFromEnv } from '../../services/audit-service/src/config.js';
import { type ChainRow, entryHash } from '../../services/audit-service/src/domain/chain.js';
import { type RunningAuditService, startAuditService } from '../../services/audit-service/src/server.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { startVault, type VaultInstance } from '../harness/components/vault.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';
import { auditServiceEnv, createChainKey } from './support.js';

/**
 * Tamper evidence against someone who can write the database (issue 20): they edit a row AND recompute every
 * later hash, so the chain is consistent again; the chain heads signed with OpenBao's transit key (kept in
 * OpenBao's KV, outside PostgreSQL) still expose it, and verify names the signed head that no longer matches
 * and the last one that does.
 */
let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let vault: VaultInstance;
let db: Db;
let audit: RunningAuditService;
const logger = createLogger({ component: 'signed-heads-test', destination: { write: () => {} } });

beforeAll(async () => {
  dir = makeRunDir('audit-signed');
  [kafka, pgi, vault] = await Promise.all([startKafka(dir), startPostgres(dir), startVault(dir)]);
  db = connectPostgres(pgi.url);
  await createChainKey(vault);
  audit = await startAuditService(
    configFromEnv({
      ...auditServiceEnv(kafka, pgi),
      ADMIN_PORT: '0',
      ADMIN_HOST: '127.0.0.1',
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: vault.rootToken,
      AUDIT_SIGN_INTERVAL_MS: '3600000',
    }),
    { logDestination: { write: () => {} } },
  );
});

afterAll(async () => {
  await audit?.close();
  await db?.close();
  await Promise.all([kafka?.stop(), pgi?.process.stop(), vault?.stop()]);
  removeRunDir(dir);
});

async function chained(): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_logs')).rows[0]!.n);
}

describe('signed chain heads', () => {
  it('catch a row edited with every later hash recomputed', async () => {
    const auth = await KafkaEventPublisher.start({
      kafka: kafkaConfigFromEnv({
        KAFKA_BOOTSTRAP: kafka.bootstrap,
        KAFKA_USERNAME: kafka.services['auth-service'].username,
        KAFKA_PASSWORD: kafka.services['auth-service'].password,
      })!,
      db,
      producer: 'auth-service',
      logger,
    });
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++)
        await auth.publish(SECURITY_TOPICS.audit.name, {
          type: 'login_failed',
          trace_id: null,
          tenant_id: 'acme',
          user_id: `u${i}`,
          actor_role: 'admin',
          request_id: `r${i}`,
          ip: '10.0.0.1',
        });
      await auth.flush();
    };
    await publish(3);
    await waitUntil('3 chained', async () => (await chained()) === 3, { timeoutMs: 30_000 });
    expect(await audit.signHead()).toBe(3);
    await publish(7);
    await waitUntil('10 chained', async () => (await chained()) === 10, { timeoutMs: 30_000 });
    expect(await audit.signHead()).toBe(10);
    await auth.close();
    expect(await audit.verify()).toMatchObject({ ok: true, signedHeads: { checked: 2, lastGoodSeq: 10 } });

    // The attacker: edit row 4 and recompute every hash from there, past the append-only trigger.
    const admin = new pg.Client({ connectionString: pgi.url });
    await admin.connect();
    try {
      await admin.query('SET session_replication_role = replica');
      await admin.query("UPDATE audit_logs SET user_id = 'someone-else' WHERE seq = 4");
      const rows = await admin.query(
        'SELECT seq, event_id, topic, event_type, schema_version, tenant_id, user_id, actor_role, trace_id, producer, producer_seq, payload, prev_hash, entry_hash FROM audit_logs WHERE seq >= 3 ORDER BY seq',
      );
      let prev = rows.rows[0].entry_hash as string;
      for (const r of rows.rows.slice(1)) {
        const row = { ...r, seq: Number(r.seq), producer_seq: Number(r.producer_seq) } as ChainRow;
        const hash = entryHash(prev, row);
        await admin.query('UPDATE audit_logs SET prev_hash = $1, entry_hash = $2 WHERE seq = $3', [
          prev,
          hash,
          row.seq,
        ]);
        prev = hash;
      }
    } finally {
      await admin.end();
    }
    // The chain alone is consistent again...
    expect(await audit.repo.verify()).toMatchObject({ ok: true, checked: 10 });
    // ...but not the one that was signed: the head at 10 no longer matches, the one at 3 still does.
    const res = await fetch(`${audit.adminUrl}/audit/verify`);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({
      ok: false,
      firstBroken: { seq: 10, reason: 'signed_head_mismatch' },
      signedHeads: { checked: 2, lastGoodSeq: 3 },
    });
  });
});
