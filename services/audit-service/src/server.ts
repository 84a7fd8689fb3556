import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type pino from 'pino';
import { describeError } from '../../../lib/errors.js';
import { createRemoteJwksVerifier } from '../../../lib/jwks-verifier.js';
import { createLogger, type Logger } from '../../../lib/log.js';
import {
  type AdminListener,
  type AdminRoute,
  healthRoutes,
  sendJson,
  startAdminListener,
} from '../../../lib/service-kit/admin-listener.js';
import { connectPostgres, type Db } from '../../../lib/service-kit/db.js';
import { keyRoutes } from '../../../lib/service-kit/key-routes.js';
import { VaultClient, VaultError } from '../../../lib/vault.js';
import { type HeadSigner, isRefusal, TransitHeadSigner } from './adapters/head-signer.js';
import type { AuditConfig } from './config.js';
import { ChainConsumer } from './consumer.js';
import { GapTracker } from './domain/gaps.js';
import { listenerRequestRecorder } from './listener-metrics.js';
import { AuditMetrics, type SigningState } from './metrics.js';
import { QueryAuthError, QueryAuthorizer } from './query-auth.js';
import { type PruneOutcome, RetentionRunner } from './retention.js';
import { AuditRepository, migrate, type VerifyResult } from './storage/repo.js';
import { verifyAudit } from './verify.js';

export interface RunningAuditService {
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly logger: Logger;
  readonly metrics: AuditMetrics;
  readonly repo: AuditRepository;
  readonly gaps: GapTracker;
  /** Runs the periodic checks now (gaps, lag, head age). */
  check(): Promise<void>;
  /** Signs the current head now (when signing is configured); resolves to the signed seq. */
  signHead(): Promise<number | undefined>;
  /** The chain, then every signed head against it. */
  verify(): Promise<VerifyResult>;
  /** One retention run now (as the timer's): the removed rows, undefined when none was due or it failed. */
  runRetention(): Promise<PruneOutcome | undefined>;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logDestination?: pino.DestinationStream;
  readonly now?: () => number;
}

const MAX_PAGE = 500;

function queryOf(req: IncomingMessage) {
  const url = new URL(req.url ?? '/', 'http://admin');
  const p = url.searchParams;
  const opt = (k: string) => p.get(k) ?? undefined;
  const date = (k: string) => {
    const v = opt(k);
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new RangeError(`${k} must be an ISO 8601 time`);
    return d;
  };
  const int = (k: string, fallback: number | undefined, max: number) => {
    const v = opt(k);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) > max) throw new RangeError(`${k} must be a whole number up to ${max}`);
    return Number(v);
  };
  return {
    tenantId: opt('tenant_id'),
    eventType: opt('event_type'),
    userId: opt('user_id'),
    from: date('from'),
    to: date('to'),
    afterSeq: int('after_seq', undefined, Number.MAX_SAFE_INTEGER),
    limit: int('limit', 100, MAX_PAGE) ?? 100,
  };
}

/** Wires config → PostgreSQL (migrations) → consumer → admin listener. */
export async function startAuditService(
  config: AuditConfig,
  opts: StartOptions = {},
): Promise<RunningAuditService> {
  const now = opts.now ?? Date.now;
  const logger = createLogger({
    component: 'audit-service',
    level: config.logLevel,
    destination: opts.logDestination,
  });
  const db: Db = connectPostgres(config.databaseUrl, { max: 5 });
  // With an admin URL the tables belong to it and the service's own role may only read and insert.
  const migrator = config.databaseAdminUrl ? connectPostgres(config.databaseAdminUrl, { max: 1 }) : db;
  const applied = await migrate(migrator).finally(() => (migrator === db ? undefined : migrator.close()));
  // Retention deletes: the tables' owner when there is one (the service's own role may only insert).
  const owner = config.databaseAdminUrl ? connectPostgres(config.databaseAdminUrl, { max: 1 }) : db;
  if (applied.length) logger.info({ event: 'migrations_applied', migrations: applied }, 'database migrated');
  const repo = new AuditRepository(db);
  const metrics = new AuditMetrics({ processMetrics: true });

  const gaps = new GapTracker(config.gapSloSeconds * 1000, (producer, seq) => {
    metrics.gaps.inc({ producer });
    logger.error(
      { event: 'audit_chain_gap', producer, missing_seq: seq, slo_seconds: config.gapSloSeconds },
      'audit chain gap: a producer sequence number is missing past the SLO',
    );
  });
  for (const [producer, s] of await repo.producerSequences())
    gaps.restore(producer, s.contiguous, s.ahead, now());
  metrics.chainLength.set((await repo.newest()).seq);

  const consumer = new ChainConsumer({
    kafka: config.kafka,
    group: config.consumerGroup,
    topics: config.topics,
    batchSize: config.batchSize,
    logger,
    onRejected: (topic, reason) => {
      metrics.processed.inc({ topic, outcome: 'rejected' });
      logger.warn(
        { event: 'audit_event_rejected', topic, reason },
        'record is not an event envelope; not chained',
      );
    },
    append: async (events) => {
      const result = await repo.append(events);
      const t = now();
      for (const e of result.chained) {
        metrics.processed.inc({ topic: e.topic, outcome: 'chained' });
        if (e.producer && e.producer_seq) gaps.seen(e.producer, e.producer_seq, t);
      }
      for (const e of result.duplicates) metrics.processed.inc({ topic: e.topic, outcome: 'duplicate' });
      const last = result.chained.at(-1);
      if (last) metrics.chainLength.set(last.seq);
      return result;
    },
  });
  await consumer.start();

  const check = async () => {
    const t = now();
    gaps.check(t);
    for (const [producer, age] of gaps.openHoleAges(t)) metrics.openHoleSeconds.set({ producer }, age);
    const newest = await repo.newest().catch(() => undefined);
    if (newest?.occurredAt)
      metrics.newestAge.set(Math.max(0, (t - new Date(newest.occurredAt).getTime()) / 1000));
    const lag = await consumer.lag().catch(() => undefined);
    if (lag) for (const [topic, n] of lag) metrics.lag.set({ topic }, n);
  };
  const timer = setInterval(() => {
    check().catch(() => {});
  }, config.checkIntervalMs);
  timer.unref();

  // Signed heads: the signer logs in at start and signs the head every AUDIT_SIGN_INTERVAL_MS. Vault
  // refusing it (a wrong role, ServiceAccount or policy) is never a silent "unsigned": the service is not
  // ready, says why in one log line and in audit_head_signing_state, and tries again at each interval.
  const signing = config.signing;
  const signer = headSigner(config.signing);
  let signingState: SigningState = signer ? 'pending' : 'off';
  metrics.setSigningState(signingState);
  if (!signer)
    logger.warn(
      { event: 'audit_heads_unsigned' },
      'VAULT_ADDR is unset: chain heads are not signed (development only)',
    );
  const signingFailed = (err: unknown) => {
    const next: SigningState = isRefusal(err) ? 'refused' : 'unavailable';
    const code = err instanceof VaultError ? err.code : 'error';
    metrics.signingFailures.inc({ reason: code });
    if (next !== signingState) {
      // Logged when the state changes, not at every retry.
      const auth = signing?.auth;
      const where = {
        event: next === 'refused' ? 'audit_head_signer_refused' : 'audit_head_sign_failed',
        // Not `code`: the logger redacts fields of that name (MFA codes).
        vault_error: code,
        error: err instanceof Error ? err.message : String(err),
        auth_method: auth?.method,
        ...(auth?.method === 'kubernetes' ? { role: auth.role, mount: auth.mountPath } : {}),
      };
      if (next === 'refused')
        logger.error(
          where,
          "Vault refused the audit-service's chain-head signer: heads are not signed and the service is not ready; check VAULT_K8S_ROLE, the ServiceAccount and namespace the role is bound to, and its policy",
        );
      else logger.warn(where, 'chain head not signed (Vault unreachable); retrying');
    }
    signingState = next;
    metrics.setSigningState(next);
  };
  let lastSigned = 0;
  const signHead = async (): Promise<number | undefined> => {
    if (!signer) return undefined;
    const head = await repo.newest();
    try {
      if (signingState !== 'ok') await signer.login();
      if (head.hash && head.seq > lastSigned) {
        await signer.sign(head.seq, head.hash);
        lastSigned = head.seq;
        metrics.signedSeq.set(head.seq);
      }
    } catch (err) {
      signingFailed(err);
      throw err;
    }
    if (signingState !== 'ok')
      logger.info({ event: 'audit_head_signer_ready' }, 'chain-head signer logged in');
    signingState = 'ok';
    metrics.setSigningState(signingState);
    return lastSigned || undefined;
  };
  // The first attempt before the service reports ready, so /readyz tells a refused signer from the start.
  if (signer) await signHead().catch(() => {});
  const signTimer = signing
    ? setInterval(() => {
        signHead().catch(() => {});
      }, signing.intervalMs)
    : undefined;
  signTimer?.unref();

  const verify = async (): Promise<VerifyResult> => {
    const result = await verifyAudit(repo, signer);
    metrics.lastVerifyOk.set(result.ok ? 1 : 0);
    if (!result.ok) {
      metrics.verifyFailures.inc();
      logger.error({ event: 'audit_verify_failed', first_broken: result.firstBroken }, 'audit chain broken');
    }
    return result;
  };

  // Retention (seed 004): rows chained more than AUDIT_RETENTION_DAYS ago are removed above a base that is
  // signed first (when heads are signed), so what remains still verifies and a forged base does not. At start,
  // then every AUDIT_RETENTION_CHECK_MS, each run counted (src/retention.ts).
  const retention = new RetentionRunner({
    prune: (cutoff) =>
      new AuditRepository(owner).prune(cutoff, async (base) => {
        if (signer) await signer.sign(base.seq, base.hash);
      }),
    retentionDays: config.retentionDays,
    intervalMs: config.retentionCheckMs,
    metrics,
    logger,
    now,
  });
  retention.start();

  const tokenDigest = config.adminToken ? createHash('sha256').update(config.adminToken).digest() : undefined;
  const authorized = (req: IncomingMessage): boolean => {
    const presented = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!tokenDigest || !presented) return false;
    return timingSafeEqual(createHash('sha256').update(presented).digest(), tokenDigest);
  };
  const qa = config.queryAuth;
  const jwks = qa
    ? createRemoteJwksVerifier({
        jwksUrl: qa.jwksUrl,
        issuer: qa.issuer,
        audience: qa.audience,
        requiredClaims: ['exp', 'iat', 'sub', 'tid'],
        onFetch: ({ ok, kids, cacheSeconds, error }) =>
          ok
            ? logger.info({ event: 'jwks_fetched', kids, cache_seconds: cacheSeconds }, 'JWKS loaded')
            : logger.warn({ event: 'jwks_fetch_failed', error }, 'JWKS fetch failed'),
      })
    : undefined;
  // Load the key set now, not on the first query, so GET /keys/status tells the operator from the start what
  // this replica verifies with (as the gateway does). Best effort: an unreachable issuer is retried on demand.
  await jwks?.refresh().catch(() => {});
  const queryAuth = new QueryAuthorizer({
    verify: jwks && ((token) => jwks.verify(token)),
    adminToken: config.adminToken,
    roles: qa?.roles ?? [],
    metrics,
  });
  let resumeTimer: NodeJS.Timeout | undefined;
  const resume = (why: 'request' | 'timeout') => {
    if (resumeTimer) clearTimeout(resumeTimer);
    resumeTimer = undefined;
    if (!consumer.isHeld) return;
    consumer.resume();
    metrics.paused.set(0);
    logger.info({ event: 'audit_consumer_resumed', reason: why }, 'audit consumer resumed');
  };

  const routes: AdminRoute[] = [
    // The probes' paths (docs/contracts.md, "Health"): ready while PostgreSQL answers and Vault does not refuse
    // the signer; a paused consumer is still ready (the drill's catch-up step pauses it on purpose and Kafka keeps the events meanwhile).
    ...healthRoutes(async () => {
      const database = await db.query('SELECT 1').then(
        () => 'ok',
        () => 'error',
      );
      return {
        // Not ready while Vault refuses the signer (or before its first login answered): heads unsigned.
        ready: database === 'ok' && signingState !== 'refused' && signingState !== 'pending',
        checks: { database, consumer: consumer.isHeld ? 'paused' : 'running', signing: signingState },
      };
    }),
    // The key set the query API verifies tokens with (docs/contracts.md, "GET /keys/status"), so a
    // SigningKeyRotation can list this Service (its only port is `admin`); without AUDIT_JWKS_URL no set.
    ...keyRoutes(jwks),
    {
      // Recomputes the whole chain and names the first broken link (also: `audit verify`, src/verify-cli.ts).
      method: 'GET',
      path: '/audit/verify',
      handle: async (_req, res) => {
        let result: VerifyResult;
        try {
          result = await verify();
        } catch (err) {
          if (!(err instanceof VaultError)) throw err;
          // The chain may be fine, but without Vault its signed heads cannot be checked: no verdict.
          return sendJson(res, 503, {
            error: {
              code: 'signed_heads_unavailable',
              message: `Vault answered ${err.code}: the signed heads cannot be checked (see /readyz, checks.signing)`,
            },
          });
        }
        sendJson(res, result.ok ? 200 : 409, result);
      },
    },
    {
      // The DR drill's "audit catch-up" step: pause chaining for at most AUDIT_MAX_PAUSE_SECONDS under
      // traffic (never by stopping Kafka), then resume. Bearer AUDIT_ADMIN_TOKEN; off without it.
      method: 'POST',
      path: '/audit/consumer/pause',
      handle: (req, res) => {
        if (!authorized(req))
          return sendJson(res, 401, { error: { code: 'unauthorized', message: 'bearer token required' } });
        const raw = new URL(req.url ?? '/', 'http://admin').searchParams.get('seconds') ?? '60';
        const seconds = Number(raw);
        if (!/^\d+$/.test(raw) || seconds < 1 || seconds > config.maxPauseSeconds) {
          return sendJson(res, 400, {
            error: { code: 'invalid_seconds', message: `seconds must be 1-${config.maxPauseSeconds}` },
          });
        }
        consumer.hold();
        metrics.paused.set(1);
        if (resumeTimer) clearTimeout(resumeTimer);
        resumeTimer = setTimeout(() => resume('timeout'), seconds * 1000);
        resumeTimer.unref();
        logger.warn({ event: 'audit_consumer_paused', seconds }, 'audit consumer paused');
        sendJson(res, 202, { paused: true, resumes_at: new Date(now() + seconds * 1000).toISOString() });
      },
    },
    {
      method: 'POST',
      path: '/audit/consumer/resume',
      handle: (req, res) => {
        if (!authorized(req))
          return sendJson(res, 401, { error: { code: 'unauthorized', message: 'bearer token required' } });
        resume('request');
        sendJson(res, 200, { paused: false });
      },
    },
    {
      method: 'GET',
      path: '/audit/events',
      handle: async (req, res) => {
        let q: ReturnType<typeof queryOf>;
        try {
          q = queryOf(req);
        } catch (err) {
          return sendJson(res, 400, { error: { code: 'invalid_query', message: describeError(err) } });
        }
        // Authenticated and tenant-scoped (src/query-auth.ts): a user's token reads its own tenant only.
        try {
          const access = await queryAuth.authorize(req.headers.authorization, q.tenantId);
          q = { ...q, tenantId: access.tenantId };
        } catch (err) {
          if (!(err instanceof QueryAuthError)) throw err;
          if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
          return sendJson(res, err.status, { error: { code: err.code, message: err.message } });
        }
        const events = await repo.query(q);
        sendJson(res, 200, {
          events,
          next_after_seq: events.length === q.limit ? events.at(-1)?.seq : null,
        });
      },
    },
  ];
  const admin: AdminListener = await startAdminListener({
    port: config.adminPort,
    host: config.adminHost,
    registry: metrics.registry,
    routes,
    // http_requests_total and http_request_duration_seconds for every request of the listener (its only HTTP).
    onResponse: listenerRequestRecorder(metrics),
  });
  logger.info(
    { event: 'started', admin_port: admin.port, topics: config.topics, group: config.consumerGroup },
    'audit-service consuming',
  );

  let closing: Promise<void> | undefined;
  return {
    adminUrl: admin.url,
    adminPort: admin.port,
    logger,
    metrics,
    repo,
    gaps,
    check,
    signHead,
    verify,
    runRetention: () => retention.run(),
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        await retention.stop();
        if (signTimer) clearInterval(signTimer);
        if (resumeTimer) clearTimeout(resumeTimer);
        await admin.close();
        await consumer.close();
        await db.close();
        if (owner !== db) await owner.close();
      })()),
  };
}

/** The transit signer of the configuration, or undefined when VAULT_ADDR is unset. */
export function headSigner(signing: AuditConfig['signing']): HeadSigner | undefined {
  return signing
    ? new TransitHeadSigner({
        vault: new VaultClient({ addr: signing.addr, auth: signing.auth, namespace: signing.namespace }),
        namespace: signing.namespace,
        transitMount: signing.transitMount,
        key: signing.key,
        kvMount: signing.kvMount,
        path: signing.path,
      })
    : undefined;
}
