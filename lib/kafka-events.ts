/**
 * Security events to Kafka through a transactional outbox (issue 20, docs/contracts.md "Events").
 *
 * `publish()` writes the event into the service's own PostgreSQL outbox table and returns; a relay sends
 * what is in the outbox to Kafka (keyed by tenant, acks=all, idempotent producer) and marks it sent. So an
 * event survives Kafka being down and a crash of the process: delivery is at-least-once, and the event id
 * (a UUID set when the event is written) makes duplicates detectable downstream.
 *
 * Each producer (one per service, shared by its replicas through the database) has a gapless sequence:
 * the relay numbers outbox rows 1, 2, 3... in a transaction of its own before sending them, under a row
 * lock on the producer's counter. A database sequence would leave holes on rollback, which the
 * audit-service would report as gaps; a number committed here is never given away again, and a row keeps
 * its number across retries.
 *
 * The envelope: `id`, `type`, `schema_version`, `occurred_at`, `producer`, `producer_seq`, the correlation
 * fields `trace_id`, `tenant_id`, `user_id`, `actor_role`, and `data` (the event's other fields). Fields
 * whose name says secret (password, token, code, key material...) are dropped before the event is stored.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { Counter, Gauge, type Registry } from 'prom-client';
import { afterCommit, inAmbientTransaction, withAmbientTransactions } from './ambient-tx.js';
import { errorClass } from './errors.js';
import { eventProblem, schemaVersion } from './event-schemas.js';
import {
  type EventPublisher,
  FanOutEventPublisher,
  LogEventPublisher,
  type SecurityEvent,
} from './events.js';
import { KAFKA_CREDENTIAL_ENV, KAFKA_SASL_MECHANISM } from './kafka-topics.js';
import type { Logger } from './log.js';
import type { Db, Queryable } from './service-kit/db.js';
import { ConfigError, type Env, envReader } from './service-kit/env.js';

export interface KafkaClientConfig {
  readonly bootstrap: readonly string[];
  readonly username: string;
  readonly password: string;
  readonly mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN';
}

/**
 * `KAFKA_BOOTSTRAP` (host:port, comma-separated), `KAFKA_USERNAME`, `KAFKA_PASSWORD` or
 * `KAFKA_PASSWORD_FILE`, `KAFKA_SASL_MECHANISM` (default SCRAM-SHA-256). Undefined when KAFKA_BOOTSTRAP is
 * unset (events then go to the log only). Throws a ConfigError that never shows the password.
 */
export function kafkaConfigFromEnv(env: Env): KafkaClientConfig | undefined {
  const r = envReader(env);
  const bootstrap = r.list(KAFKA_CREDENTIAL_ENV.bootstrap, []);
  if (bootstrap.length === 0) return undefined;
  for (const b of bootstrap) {
    if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(b))
      throw new ConfigError(`${KAFKA_CREDENTIAL_ENV.bootstrap}=${b}: must be host:port[,host:port]`);
  }
  const username = r.optional(KAFKA_CREDENTIAL_ENV.username);
  if (!username) throw new ConfigError(`${KAFKA_CREDENTIAL_ENV.username} is required with KAFKA_BOOTSTRAP`);
  let password = r.optional(KAFKA_CREDENTIAL_ENV.password);
  const file = r.optional(KAFKA_CREDENTIAL_ENV.passwordFile);
  if (!password && file) {
    try {
      password = readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`${KAFKA_CREDENTIAL_ENV.passwordFile}=${file}: cannot be read`);
    }
  }
  if (!password)
    throw new ConfigError(
      `${KAFKA_CREDENTIAL_ENV.password} or ${KAFKA_CREDENTIAL_ENV.passwordFile} is required with KAFKA_BOOTSTRAP`,
    );
  const mechanism = r.oneOf(
    KAFKA_CREDENTIAL_ENV.mechanism,
    ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'] as const,
    KAFKA_SASL_MECHANISM,
  );
  return { bootstrap, username, password, mechanism };
}

export interface EventEnvelope {
  readonly id: string;
  readonly type: string;
  readonly schema_version: number;
  readonly occurred_at: string;
  readonly producer: string;
  /** Assigned by the relay; null until then. */
  readonly producer_seq: number | null;
  readonly trace_id: string | null;
  readonly tenant_id: string | null;
  readonly user_id: string | null;
  readonly actor_role: string | null;
  readonly outcome?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** Names that hold a secret or secret material: never stored, never sent. `key_prefix`, `key_id` are identifiers and stay. */
const SECRET_FIELD =
  /^(key|otp|pin|secret|api_key|raw_key|key_material|signature|.*password.*|.*passwd.*|.*token.*|.*secret.*|.*bearer.*|.*authorization.*|.*cookie.*|.*private.*|.*totp.*|.*otp_.*)$/i;
/** `code`, `mfa_code`, `recovery_code`...: codes are secrets, except these identifiers of outcomes. */
const CODE_FIELD = /(^|_)codes?$/i;
const CODE_ALLOWED = new Set(['error_code', 'status_code', 'reason_code', 'country_code', 'currency_code']);
const isSecretField = (k: string) =>
  SECRET_FIELD.test(k) || (CODE_FIELD.test(k) && !CODE_ALLOWED.has(k.toLowerCase()));

function scrub(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecretField(k)) continue;
    out[k] = scrub(v, depth + 1);
  }
  return out;
}

export function toEnvelope(event: SecurityEvent, producer: string, now = new Date()): EventEnvelope {
  const { type, trace_id, tenant_id, user_id, actor_role, outcome, id, ...rest } = event as SecurityEvent & {
    id?: unknown;
  };
  const data = scrub(rest) as Record<string, unknown>;
  return {
    id: typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id) ? id : randomUUID(),
    type,
    schema_version: schemaVersion(type),
    occurred_at: now.toISOString(),
    producer,
    producer_seq: null,
    trace_id: trace_id ?? null,
    tenant_id: tenant_id ?? null,
    user_id: user_id ?? null,
    actor_role: actor_role ?? null,
    ...(outcome === undefined ? {} : { outcome }),
    data,
  };
}

const IDENT = /^[a-z][a-z0-9_]*$/;

/**
 * The outbox of one producer in its service's database: `<prefix>_event_outbox` and the producer's
 * counter `<prefix>_event_outbox_seq`. Per-service tables (not one shared table) because services sharing a
 * database have their own least-privilege roles and each creates only its own tables.
 */
export class PgOutbox {
  readonly table: string;
  readonly seqTable: string;

  constructor(
    private readonly db: Db,
    readonly producer: string,
  ) {
    const prefix = producer.replace(/-/g, '_');
    if (!IDENT.test(prefix)) throw new Error(`producer name "${producer}" is not a plain identifier`);
    this.table = `${prefix}_event_outbox`;
    this.seqTable = `${prefix}_event_outbox_seq`;
  }

  async ensureSchema(): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`novapos-outbox-${this.table}`]);
      await tx.exec(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          id bigserial PRIMARY KEY,
          event_id uuid NOT NULL UNIQUE,
          topic text NOT NULL,
          message_key text NOT NULL,
          envelope jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          producer_seq bigint UNIQUE,
          published_at timestamptz
        );
        CREATE INDEX IF NOT EXISTS ${this.table}_unsent ON ${this.table} (producer_seq) WHERE published_at IS NULL;
        -- The relay's numbering reads the unnumbered rows: without this it scans the whole table each time.
        CREATE INDEX IF NOT EXISTS ${this.table}_unnumbered ON ${this.table} (id) WHERE producer_seq IS NULL;
        CREATE TABLE IF NOT EXISTS ${this.seqTable} (
          producer text PRIMARY KEY,
          last_seq bigint NOT NULL
        );
      `);
      await tx.query(
        `INSERT INTO ${this.seqTable} (producer, last_seq) VALUES ($1, 0) ON CONFLICT (producer) DO NOTHING`,
        [this.producer],
      );
    });
  }

  /** Writes one event; pass the transaction of the change it records to make both atomic. */
  async enqueue(q: Queryable, topic: string, envelope: EventEnvelope): Promise<void> {
    await q.query(
      `INSERT INTO ${this.table} (event_id, topic, message_key, envelope) VALUES ($1, $2, $3, $4)
       ON CONFLICT (event_id) DO NOTHING`,
      [envelope.id, topic, envelope.tenant_id ?? '-', JSON.stringify(envelope)],
    );
  }

  /** Writes several events in one statement (group commit of concurrent publishes), in the given order. */
  async enqueueMany(
    q: Queryable,
    rows: readonly { topic: string; envelope: EventEnvelope }[],
  ): Promise<void> {
    if (rows.length === 0) return;
    // One JSON document for the whole group (no per-row array literal escaping), unpacked by PostgreSQL in
    // order (WITH ORDINALITY), so the rows' ids follow the publishes' order.
    await q.query(
      `INSERT INTO ${this.table} (event_id, topic, message_key, envelope)
       SELECT (r.e->'e'->>'id')::uuid, r.e->>'t', coalesce(r.e->'e'->>'tenant_id', '-'), r.e->'e'
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS r(e, n) ORDER BY r.n
       ON CONFLICT (event_id) DO NOTHING`,
      [JSON.stringify(rows.map((r) => ({ t: r.topic, e: r.envelope })))],
    );
  }

  /** Numbers up to `limit` unnumbered rows in insertion order, gaplessly, in one transaction. */
  async sequence(limit: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      const head = await tx.query<{ last_seq: string }>(
        `SELECT last_seq FROM ${this.seqTable} WHERE producer = $1 FOR UPDATE`,
        [this.producer],
      );
      const last = Number(head.rows[0]?.last_seq ?? 0);
      const rows = await tx.query<{ id: string }>(
        `SELECT id FROM ${this.table} WHERE producer_seq IS NULL ORDER BY id LIMIT $1`,
        [limit],
      );
      if (rows.rows.length === 0) return 0;
      const ids = rows.rows.map((r) => r.id);
      await tx.query(
        `UPDATE ${this.table} o SET producer_seq = $2::bigint + n.ord
           FROM unnest($1::bigint[]) WITH ORDINALITY AS n(id, ord) WHERE o.id = n.id`,
        [ids, last],
      );
      await tx.query(`UPDATE ${this.seqTable} SET last_seq = $2 WHERE producer = $1`, [
        this.producer,
        last + ids.length,
      ]);
      return ids.length;
    });
  }

  /**
   * Sends numbered, unsent rows in sequence order through `send`, inside one transaction that holds their
   * row locks (`FOR UPDATE SKIP LOCKED`): two replicas' relays never send the same rows, and a failed send
   * rolls back so the rows stay unsent. Returns what was sent.
   */
  async sendBatch(
    limit: number,
    send: (rows: readonly { topic: string; key: string; value: string; seq: number }[]) => Promise<void>,
  ): Promise<{ topic: string }[]> {
    return this.db.transaction(async (tx) => {
      // The value is built by PostgreSQL (the stored envelope with its number set), as text: no JSON
      // parse and re-serialisation per row in the relay.
      const res = await tx.query<{
        id: string;
        topic: string;
        message_key: string;
        value: string;
        producer_seq: string;
      }>(
        `SELECT id, topic, message_key, producer_seq,
                jsonb_set(envelope, '{producer_seq}', to_jsonb(producer_seq))::text AS value FROM ${this.table}
          WHERE published_at IS NULL AND producer_seq IS NOT NULL ORDER BY producer_seq LIMIT $1
          FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (res.rows.length === 0) return [];
      const rows = res.rows.map((r) => ({
        topic: r.topic,
        key: r.message_key,
        seq: Number(r.producer_seq),
        value: r.value,
      }));
      await send(rows);
      await tx.query(`UPDATE ${this.table} SET published_at = now() WHERE id = ANY($1::bigint[])`, [
        res.rows.map((r) => r.id),
      ]);
      return rows;
    });
  }

  async backlog(): Promise<{ count: number; oldestSeconds: number }> {
    const res = await this.db.query<{ n: string; oldest: string | null }>(
      `SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS oldest FROM ${this.table} WHERE published_at IS NULL`,
    );
    return { count: Number(res.rows[0]?.n ?? 0), oldestSeconds: Number(res.rows[0]?.oldest ?? 0) };
  }
}

export interface KafkaEventPublisherOptions {
  readonly kafka: KafkaClientConfig;
  readonly db: Db;
  /** `auth-service`, `integration-gateway`: the producer name in every envelope and the outbox's prefix. */
  readonly producer: string;
  readonly logger: Logger;
  /** The service's registry: outbox backlog and relay counters are registered on it. */
  readonly registry?: Registry;
  /** How often the relay looks at the outbox when nothing woke it. Default 500 ms. */
  readonly pollMs?: number;
  /** Rows per Kafka request. Default 1000. */
  readonly batch?: number;
  /** false: write to the outbox only, never relay (tests: a process that died before its relay ran). */
  readonly relay?: boolean;
}

function metricsOn(registry: Registry | undefined, outbox: PgOutbox, producer: string) {
  const existing = <T>(name: string) => registry?.getSingleMetric(name) as T | undefined;
  const registers = registry ? [registry] : [];
  const published =
    existing<Counter<'topic'>>('security_events_published_total') ??
    new Counter({
      name: 'security_events_published_total',
      help: 'Security events the outbox relay delivered to Kafka (acks=all), by topic.',
      labelNames: ['topic'],
      registers,
    });
  const failures =
    existing<Counter<'stage'>>('security_events_outbox_failures_total') ??
    new Counter({
      name: 'security_events_outbox_failures_total',
      help: 'Failures of the event outbox: stage=invalid (an event not matching its schema, refused), write (an event not stored), sequence, send (Kafka refused or unreachable; retried).',
      labelNames: ['stage'],
      registers,
    });
  if (registry && !existing('security_events_outbox_backlog')) {
    new Gauge({
      name: 'security_events_outbox_backlog',
      help: 'Events written to the outbox and not yet delivered to Kafka.',
      labelNames: ['producer'],
      registers,
      async collect() {
        const b = await outbox.backlog().catch(() => undefined);
        if (b) this.set({ producer }, b.count);
      },
    });
    new Gauge({
      name: 'security_events_outbox_oldest_seconds',
      help: 'Age of the oldest undelivered event in the outbox (0 when empty).',
      labelNames: ['producer'],
      registers,
      async collect() {
        const b = await outbox.backlog().catch(() => undefined);
        if (b) this.set({ producer }, b.oldestSeconds);
      },
    });
  }
  return { published, failures };
}

/** An event that does not match its type's schema (lib/event-schemas.ts). */
export class EventSchemaError extends Error {
  override readonly name = 'EventSchemaError';
}

/** Group writes in flight at once (each holds a pooled connection) and the rows one may carry. */
const GROUP_WRITERS = 3;
const GROUP_MAX = 1000;

/** The outbox publisher and its relay (see the module comment). */
export class KafkaEventPublisher implements EventPublisher {
  readonly outbox: PgOutbox;
  private readonly producerClient: Producer<string, string, string, string>;
  private readonly metrics: ReturnType<typeof metricsOn>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private failuresInARow = 0;
  private lastErrorLog = 0;
  /** Publishes outside a transaction waiting for the next group write. */
  private queued: {
    topic: string;
    envelope: EventEnvelope;
    done: (err?: unknown) => void;
  }[] = [];
  private groupWrites = 0;

  private readonly opts: KafkaEventPublisherOptions;

  private constructor(options: KafkaEventPublisherOptions) {
    // The same ambient-transaction view of the Db as the service's repository (one per Db).
    const opts = { ...options, db: withAmbientTransactions(options.db) };
    this.opts = opts;
    this.outbox = new PgOutbox(opts.db, opts.producer);
    this.metrics = metricsOn(opts.registry, this.outbox, opts.producer);
    this.producerClient = new Producer({
      clientId: opts.producer,
      bootstrapBrokers: [...opts.kafka.bootstrap],
      sasl: { mechanism: opts.kafka.mechanism, username: opts.kafka.username, password: opts.kafka.password },
      serializers: stringSerializers,
      idempotent: true,
      acks: -1,
      connectTimeout: 3000,
      requestTimeout: 10_000,
      retries: 2,
      retryDelay: 200,
    });
    this.producerClient.on?.('error', () => {});
  }

  /** Creates the outbox tables if needed and starts the relay. */
  static async start(opts: KafkaEventPublisherOptions): Promise<KafkaEventPublisher> {
    const p = new KafkaEventPublisher(opts);
    await p.outbox.ensureSchema();
    if (opts.relay === false) p.closed = true;
    else p.schedule(0);
    return p;
  }

  /**
   * Inside an ambient transaction of the service's Db (lib/ambient-tx.ts) the row is written in that
   * transaction and a failure throws, so the change it records rolls back with it: an event is never lost
   * or invented. Outside one it is written on its own and a failure is counted and logged, never thrown.
   */
  async publish(topic: string, event: SecurityEvent): Promise<void> {
    const inTx = inAmbientTransaction();
    const envelope = toEnvelope(event, this.opts.producer);
    // One schema per type (lib/event-schemas.ts), checked on what would be stored (secrets scrubbed).
    const problem = eventProblem(envelope.type, topic, envelope.data);
    if (problem) {
      this.metrics.failures.inc({ stage: 'invalid' });
      this.opts.logger.error(
        { event: 'event_schema_violation', type: envelope.type, topic, problem },
        'security event refused: it does not match its schema (lib/event-schemas.ts)',
      );
      if (inTx) throw new EventSchemaError(problem);
      return;
    }
    try {
      if (inTx) await this.outbox.enqueue(this.opts.db, topic, envelope);
      else await this.groupWrite(topic, envelope);
      afterCommit(() => this.wake());
    } catch (err) {
      this.metrics.failures.inc({ stage: 'write' });
      this.opts.logger.error(
        { event: 'event_outbox_write_failed', type: event.type, topic, error: errorClass(err) },
        inTx
          ? 'security event not stored in the outbox; the change it records is rolled back'
          : 'security event not stored in the outbox',
      );
      if (inTx) throw err;
    }
  }

  /**
   * Group commit: publishes that arrive while a write is in flight are written together by the next one
   * (one INSERT, one commit), so N concurrent publishes cost about one round trip and one WAL flush, not N.
   * Each publish still resolves only once its row is committed.
   */
  private groupWrite(topic: string, envelope: EventEnvelope): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ topic, envelope, done: (err) => (err ? reject(err) : resolve()) });
      if (this.groupWrites < GROUP_WRITERS) void this.drainGroups();
    });
  }

  private async drainGroups(): Promise<void> {
    this.groupWrites++;
    try {
      while (this.queued.length > 0) {
        const group = this.queued.splice(0, GROUP_MAX);
        try {
          await this.outbox.enqueueMany(this.opts.db, group);
          for (const g of group) g.done();
        } catch (err) {
          for (const g of group) g.done(err);
        }
      }
    } finally {
      this.groupWrites--;
    }
  }

  /** Runs the relay now (tests, shutdown); resolves when the outbox was looked at once more. */
  async flush(): Promise<void> {
    this.again = true;
    while (this.running) await this.running;
    await this.relayOnce();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => {});
    // A last bounded attempt: whatever is left stays in the outbox for the next start.
    await Promise.race([this.relayOnce().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.producerClient.close(true).catch(() => {});
  }

  private wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.relayLoop().finally(() => {
        this.running = undefined;
      });
    }, ms);
    this.timer.unref();
  }

  private async relayLoop(): Promise<void> {
    let sent: number;
    try {
      do {
        this.again = false;
        sent = await this.relayOnce();
      } while ((sent > 0 || this.again) && !this.closed);
      this.failuresInARow = 0;
      this.schedule(this.opts.pollMs ?? 500);
    } catch (err) {
      this.failuresInARow++;
      const now = Date.now();
      if (now - this.lastErrorLog > 10_000) {
        this.lastErrorLog = now;
        this.opts.logger.warn(
          { event: 'event_relay_failed', error: errorClass(err), failures_in_a_row: this.failuresInARow },
          'security events kept in the outbox; retrying',
        );
      }
      this.schedule(Math.min(250 * 2 ** Math.min(this.failuresInARow, 5), 5000));
    }
  }

  /** Numbers new rows, sends one batch of numbered unsent rows; returns how many were sent. */
  private async relayOnce(): Promise<number> {
    const batch = this.opts.batch ?? 1000;
    try {
      await this.outbox.sequence(batch);
    } catch (err) {
      this.metrics.failures.inc({ stage: 'sequence' });
      throw err;
    }
    let sent: { topic: string }[];
    try {
      sent = await this.outbox.sendBatch(batch, (rows) =>
        this.producerClient
          .send({
            messages: rows.map((r) => ({
              topic: r.topic,
              key: r.key,
              value: r.value,
              headers: { 'event-producer': this.opts.producer, 'event-seq': String(r.seq) },
            })),
          })
          .then(() => undefined),
      );
    } catch (err) {
      this.metrics.failures.inc({ stage: 'send' });
      throw err;
    }
    for (const r of sent) this.metrics.published.inc({ topic: r.topic });
    return sent.length;
  }
}

/**
 * What a service publishes through: the log always (the central pipeline keeps its line), plus Kafka
 * through the outbox when KAFKA_BOOTSTRAP is set. Kafka without a database is refused: the outbox is what
 * makes delivery survive a crash.
 */
export async function createEventPublisher(opts: {
  readonly kafka: KafkaClientConfig | undefined;
  readonly db: Db | undefined;
  readonly producer: string;
  readonly logger: Logger;
  readonly registry?: Registry;
}): Promise<EventPublisher> {
  const log = new LogEventPublisher(opts.logger);
  if (!opts.kafka) return log;
  if (!opts.db)
    throw new ConfigError('KAFKA_BOOTSTRAP needs DATABASE_URL: events go through an outbox table');
  const kafka = await KafkaEventPublisher.start({
    kafka: opts.kafka,
    db: opts.db,
    producer: opts.producer,
    logger: opts.logger,
    registry: opts.registry,
  });
  return new FanOutEventPublisher([log, kafka]);
}
