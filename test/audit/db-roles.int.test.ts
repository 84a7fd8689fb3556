import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { connectPostgres } from '../../lib/service-kit/db.js';
import { runDbRoles, ViewMissingError } from '../../scripts/db-roles.js';
import { AuditMetrics } from '../../services/audit-service/src/metrics.js';
import { RetentionRunner } from '../../services/audit-service/src/retention.js';
import { AuditRepository } from '../../services/audit-service/src/storage/repo.js';
import { migrate as migrateAuth } from '../../services/auth-service/src/storage/migrate.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { anEvent } from './events.js';

/**
 * The database-role Job's program (scripts/db-roles.ts, the chart's `db-roles` image; issues 18 and 20) and
 * the retention runs' metrics (issue 20), against real PostgreSQL: the Job creates the audit-service's
 * insert-only role and the gateway's role, again and again without harm; retention run as the insert-only
 * role fails and is counted as a failure (no success stamped), as the tables' owner it succeeds.
 */
let dir: string;
let pgi: PostgresInstance;
const DAY = 86_400_000;

const urlAs = (role: string, password: string) => {
  const u = new URL(pgi.url);
  u.username = role;
  u.password = password;
  return u.toString();
};

async function query(url: string, sql: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  dir = makeRunDir('db-roles');
  pgi = await startPostgres(dir);
}, 120_000);

afterAll(async () => {
  await pgi?.process.stop();
  removeRunDir(dir);
});

const auditRole = `audit_${randomBytes(3).toString('hex')}`;
const auditPassword = randomBytes(18).toString('base64url');

describe('the database-role Job (scripts/db-roles.ts)', () => {
  const gatewayRole = `gw_${randomBytes(3).toString('hex')}`;
  const gatewayPassword = randomBytes(18).toString('base64url');

  it("migrates the audit tables and makes the audit-service's role insert-only, idempotently", async () => {
    const audit = { adminUrl: pgi.url, role: auditRole, password: auditPassword };
    const config = { gateway: undefined, audit, waitSeconds: 0 };
    expect(await runDbRoles(config)).toEqual([`audit role ${auditRole}: insert-only on audit_logs`]);
    // At every deploy: the same again changes nothing and fails nothing.
    await runDbRoles(config);
    const asAudit = urlAs(auditRole, auditPassword);
    expect(await query(asAudit, 'SELECT count(*) FROM audit_logs')).toBe('ok');
    expect(await query(asAudit, 'DELETE FROM audit_logs')).toBe('42501');
    expect(await query(asAudit, 'UPDATE audit_logs SET tenant_id = NULL')).toBe('42501');
    expect(await query(asAudit, 'TRUNCATE audit_logs')).toBe('42501');
    expect(await query(asAudit, 'CREATE TABLE t (x int)')).toBe('42501');
  });

  it("waits for auth-service's migrations before the gateway's grant, then fails so the Job retries", async () => {
    const gateway = { adminUrl: pgi.url, role: gatewayRole, password: gatewayPassword };
    const sleeps: number[] = [];
    let t = 0;
    await expect(
      runDbRoles(
        { gateway, audit: undefined, waitSeconds: 10 },
        {
          sleep: async (ms) => {
            t += ms;
            sleeps.push(t);
          },
          now: () => t,
        },
      ),
    ).rejects.toBeInstanceOf(ViewMissingError);
    expect(sleeps).toEqual([5000, 10000]);

    const db = connectPostgres(pgi.url);
    try {
      await migrateAuth(db);
    } finally {
      await db.close();
    }
    expect(await runDbRoles({ gateway, audit: undefined, waitSeconds: 0 })).toEqual([
      `gateway role ${gatewayRole}: reads gateway_api_keys`,
    ]);
    const asGateway = urlAs(gatewayRole, gatewayPassword);
    expect(await query(asGateway, 'SELECT count(*) FROM gateway_api_keys')).toBe('ok');
    expect(await query(asGateway, 'SELECT count(*) FROM users')).toBe('42501');
  });
});

describe('retention runs and their metrics (src/retention.ts)', () => {
  it('counts a run refused by the database as a failure and stamps a success only when one happens', async () => {
    const owner = connectPostgres(pgi.url);
    // The service's own DATABASE_URL: the insert-only role the Job made above.
    const insertOnly = connectPostgres(urlAs(auditRole, auditPassword));
    const repo = new AuditRepository(owner);
    await repo.append([1, 2, 3].map(anEvent));
    const metrics = new AuditMetrics();
    const logger = createLogger({ component: 'audit-service', level: 'silent' });
    // 31 days from now with 30 days of retention: every row but the newest is due.
    const later = () => Date.now() + 31 * DAY;
    const value = async (name: string, outcome?: string) =>
      (await metrics.registry.getSingleMetric(name)?.get())?.values.find(
        (v) => outcome === undefined || v.labels['outcome'] === outcome,
      )?.value;
    try {
      const refused = new RetentionRunner({
        // Run with the wrong credential (not DATABASE_ADMIN_URL): PostgreSQL refuses the DELETE.
        prune: (cutoff) => new AuditRepository(insertOnly).prune(cutoff, async () => {}),
        retentionDays: 30,
        intervalMs: 3_600_000,
        metrics,
        logger,
        now: later,
      });
      expect(await refused.run()).toBeUndefined();
      expect(await value('audit_retention_runs_total', 'failure')).toBe(1);
      expect(await value('audit_retention_last_success_timestamp_seconds')).toBe(0);

      const ok = new RetentionRunner({
        prune: (cutoff) => repo.prune(cutoff, async () => {}),
        retentionDays: 30,
        intervalMs: 3_600_000,
        metrics,
        logger,
        now: later,
      });
      expect(await ok.run()).toMatchObject({ base: { seq: 2 }, removed: 2 });
      expect(await value('audit_retention_runs_total', 'success')).toBe(1);
      expect(await value('audit_retention_rows_removed_total')).toBe(2);
      expect(await value('audit_retention_last_success_timestamp_seconds')).toBeGreaterThan(
        Date.now() / 1000,
      );
    } finally {
      await insertOnly.close();
      await owner.close();
    }
  });
});
