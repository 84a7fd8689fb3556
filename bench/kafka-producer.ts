// Kafka producer throughput on this machine: `npx tsx bench/kafka-producer.ts` (`--records 50000`,
// `--rounds 2`). Starts a private broker from the harness (Kafka 4.4.0, KRaft, SASL/SCRAM, as in the tests)
// and measures, in the same run and against the same broker, topic and record size (a ~500-byte JSON
// security event, acks=all, idempotent):
//   baseline: the broker's own producer, ProducerPerformance of org.apache.kafka:kafka-tools (same version),
//             the ceiling a Node client is compared with;
//   @platformatic/kafka: the client the project uses (docs/adr/0004-kafka-client.md), batches of 100
//             records per send(), up to 8 sends in flight.
//   outbox: the same events through the project's path, KafkaEventPublisher (lib/kafka-events.ts):
//             publish() into a real PostgreSQL outbox (concurrent publishes share one INSERT and commit:
//             group commit), the relay numbering and sending them; timed until the outbox is empty (every
//             event acknowledged by Kafka). Twice: 8 publishing loops (each waits for its event to be
//             durable before the next, so latency-bound), and `--outbox-in-flight` loops (default 256: the
//             requests a service replica has in flight under load, each publishing one event);
//   audit chain: the audit-service (in this process) chaining those events into PostgreSQL, timed from its
//             start until all are chained (with `--records` events waiting in the topic).
// Each side runs `--rounds` times, alternating; the best round of each is kept. The ratios printed are
// against the baseline. Figures go to stdout and bench/results/kafka.json.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { KafkaEventPublisher, kafkaConfigFromEnv } from '../lib/kafka-events.js';
import { KAFKA_SASL_MECHANISM, SECURITY_TOPICS } from '../lib/kafka-topics.js';
import { createLogger } from '../lib/log.js';
import { connectPostgres } from '../lib/service-kit/db.js';
import { configFromEnv as auditConfigFromEnv } from '../services/audit-service/src/config.js';
import { startAuditService } from '../services/audit-service/src/server.js';
import { kafkaLibs, saslOptions, startKafka } from '../test/harness/components/kafka.js';
import { startPostgres } from '../test/harness/components/postgres.js';
import { makeRunDir, removeRunDir } from '../test/harness/process.js';
import { cycle, required } from './support.js';

const run = promisify(execFile);
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const RECORDS = arg('--records', 50_000);
const ROUNDS = arg('--rounds', 2);
const BATCH = 100;
const IN_FLIGHT = 8;
const OUTBOX_IN_FLIGHT = arg('--outbox-in-flight', 256);
const TOPIC = 'bench.events';

function sampleEvent(i: number): string {
  const e = {
    id: `0190c1a2-7b7e-7000-8000-${String(i).padStart(12, '0')}`,
    type: 'login_failed',
    schema_version: 1,
    occurred_at: new Date().toISOString(),
    trace_id: 'f3c1e2d4b5a6978812345678abcdef01',
    tenant_id: `tenant-${i % 50}`,
    user_id: `user-${i % 5000}`,
    actor_role: 'cashier',
    outcome: 'invalid_password',
    source: { service: 'auth-service', replica: 'auth-service-7c9f8d6b5-x2k4p' },
  };
  const text = JSON.stringify(e);
  return text + ' '.repeat(Math.max(0, 500 - text.length));
}

async function main() {
  const dir = makeRunDir('bench-kafka');
  const kafka = await startKafka(dir);
  const results: Record<string, unknown> = {};
  try {
    const admin = kafka.adminClient();
    await admin.createTopics({ topics: [TOPIC], partitions: 3, replicas: 1 });
    await admin.close();
    const payloads = Array.from({ length: 1000 }, (_, i) => sampleEvent(i));
    const firstPayload = required(payloads[0], 'a sample event');
    const recordSize = Buffer.byteLength(firstPayload);

    const propsFile = path.join(dir, 'producer.properties');
    writeFileSync(
      propsFile,
      [
        `bootstrap.servers=${kafka.bootstrap}`,
        'security.protocol=SASL_PLAINTEXT',
        `sasl.mechanism=${KAFKA_SASL_MECHANISM}`,
        `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${kafka.admin.username}" password="${kafka.admin.password}";`,
        'acks=all',
        'enable.idempotence=true',
        'linger.ms=5',
        // Batches of about the client's size (100 records of ~500 B per send): the same work per request.
        'batch.size=65536',
      ].join('\n'),
      { mode: 0o600 },
    );
    const payloadFile = path.join(dir, 'payloads.txt');
    writeFileSync(payloadFile, payloads.join('\n'));
    const libs = kafkaLibs();

    const javaRound = async (): Promise<number> => {
      const { stdout } = await run(
        'java',
        [
          '-Xmx256m',
          '-XX:+UseSerialGC',
          `-Dlog4j2.configurationFile=${path.join(dir, 'kafka', 'log4j2.properties')}`,
          '-cp',
          `${libs}/*`,
          'org.apache.kafka.tools.ProducerPerformance',
          '--topic',
          TOPIC,
          '--num-records',
          String(RECORDS),
          '--payload-file',
          payloadFile,
          '--throughput',
          '-1',
          '--producer.config',
          propsFile,
        ],
        { timeout: 300_000, maxBuffer: 10 * 1024 * 1024 },
      );
      const final = stdout
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith(`${RECORDS} records sent`));
      const m = final && /([\d.]+) records\/sec/.exec(final);
      if (!m) throw new Error(`ProducerPerformance printed no summary:\n${stdout.slice(-500)}`);
      return Number(m[1]);
    };

    const nodeRound = async (): Promise<number> => {
      const producer = new Producer({
        clientId: 'bench',
        bootstrapBrokers: [kafka.bootstrap],
        serializers: stringSerializers,
        sasl: saslOptions(kafka.admin),
        acks: -1,
        idempotent: true,
      });
      try {
        // Connect and fetch metadata outside the timed part, as ProducerPerformance does before it starts.
        await producer.send({ messages: [{ topic: TOPIC, key: 'warm', value: firstPayload }] });
        const started = performance.now();
        let next = 0;
        const worker = async () => {
          while (next < RECORDS) {
            const from = next;
            next += BATCH;
            const messages = [];
            for (let i = from; i < Math.min(from + BATCH, RECORDS); i++) {
              messages.push({ topic: TOPIC, key: `tenant-${i % 50}`, value: cycle(payloads, i) });
            }
            await producer.send({ messages });
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
        return RECORDS / ((performance.now() - started) / 1000);
      } finally {
        await producer.close();
      }
    };

    const java: number[] = [];
    const node: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const javaRate = await javaRound();
      java.push(javaRate);
      process.stderr.write(`[bench] round ${r + 1} ProducerPerformance: ${javaRate.toFixed(0)} records/s\n`);
      const nodeRate = await nodeRound();
      node.push(nodeRate);
      process.stderr.write(`[bench] round ${r + 1} @platformatic/kafka: ${nodeRate.toFixed(0)} records/s\n`);
    }
    // The outbox path and the audit chain, on a real PostgreSQL (one round: the chain grows across rounds).
    const pgi = await startPostgres(dir);
    const db = connectPostgres(pgi.url, { max: 12 });
    const quiet = createLogger({ component: 'bench', destination: { write: () => {} } });
    const outboxRound = async (loops: number) => {
      const pub = await KafkaEventPublisher.start({
        kafka: required(
          kafkaConfigFromEnv({
            KAFKA_BOOTSTRAP: kafka.bootstrap,
            KAFKA_USERNAME: kafka.services['auth-service'].username,
            KAFKA_PASSWORD: kafka.services['auth-service'].password,
          }),
          'the Kafka client settings',
        ),
        db,
        producer: 'auth-service',
        logger: quiet,
        pollMs: 50,
      });
      const started = performance.now();
      let next = 0;
      const loop = async () => {
        while (next < RECORDS) {
          const i = next++;
          await pub.publish(SECURITY_TOPICS.audit.name, {
            type: 'login_failed',
            trace_id: 'f3c1e2d4b5a6978812345678abcdef01',
            tenant_id: `tenant-${i % 50}`,
            user_id: `user-${i % 5000}`,
            actor_role: 'cashier',
            outcome: 'invalid_credentials',
            // A valid login_failed (lib/event-schemas.ts) padded to the baseline's ~500-byte record.
            request_id: `req-${i}-${'x'.repeat(100)}`,
            ip: '203.0.113.7',
          });
        }
      };
      await Promise.all(Array.from({ length: loops }, loop));
      for (;;) {
        if ((await pub.outbox.backlog()).count === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const rate = RECORDS / ((performance.now() - started) / 1000);
      await pub.close();
      return rate;
    };
    const outboxLatencyBound = await outboxRound(IN_FLIGHT);
    process.stderr.write(
      `[bench] outbox, ${IN_FLIGHT} loops (publish → acknowledged by Kafka): ${outboxLatencyBound.toFixed(0)} events/s\n`,
    );
    const outboxRate = await outboxRound(OUTBOX_IN_FLIGHT);
    process.stderr.write(
      `[bench] outbox, ${OUTBOX_IN_FLIGHT} in flight (publish → acknowledged by Kafka): ${outboxRate.toFixed(0)} events/s\n`,
    );
    const chainRate = await (async () => {
      const started = performance.now();
      const audit = await startAuditService(
        auditConfigFromEnv({
          DATABASE_URL: pgi.url,
          KAFKA_BOOTSTRAP: kafka.bootstrap,
          KAFKA_USERNAME: kafka.services['audit-service'].username,
          KAFKA_PASSWORD: kafka.services['audit-service'].password,
          ADMIN_PORT: '0',
          ADMIN_HOST: '127.0.0.1',
          AUDIT_TOPICS: SECURITY_TOPICS.audit.name,
          AUDIT_BATCH_SIZE: '500',
        }),
        { logDestination: { write: () => {} } },
      );
      for (;;) {
        const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_logs');
        const n = Number(required(rows[0], 'the count of audit_logs').n);
        if (n >= RECORDS) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const rate = RECORDS / ((performance.now() - started) / 1000);
      await audit.close();
      return rate;
    })();
    process.stderr.write(
      `[bench] audit chain (consume → chained in PostgreSQL): ${chainRate.toFixed(0)} events/s\n`,
    );
    await db.close();
    await pgi.process.stop();

    const baseline = Math.max(...java);
    const client = Math.max(...node);
    Object.assign(results, {
      recordedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg: loadavg().map((l) => Number(l.toFixed(1))) },
      kafka: '4.4.0 KRaft, one broker, SASL_PLAINTEXT SCRAM-SHA-256, 3 partitions',
      records: RECORDS,
      recordBytes: recordSize,
      acks: 'all',
      idempotent: true,
      baselineProducerPerformance: { rounds: java.map(Math.round), best: Math.round(baseline) },
      platformaticKafka: {
        batch: BATCH,
        inFlight: IN_FLIGHT,
        rounds: node.map(Math.round),
        best: Math.round(client),
      },
      ratio: Number((client / baseline).toFixed(2)),
      outbox: {
        eventsPerSecond: Math.round(outboxRate),
        inFlight: OUTBOX_IN_FLIGHT,
        ratio: Number((outboxRate / baseline).toFixed(2)),
        goal: 0.5,
        met: outboxRate / baseline >= 0.5,
      },
      outboxLatencyBound: {
        eventsPerSecond: Math.round(outboxLatencyBound),
        loops: IN_FLIGHT,
        ratio: Number((outboxLatencyBound / baseline).toFixed(2)),
      },
      auditChain: {
        eventsPerSecond: Math.round(chainRate),
        batch: 500,
        ratio: Number((chainRate / baseline).toFixed(2)),
      },
    });
    process.stdout.write(
      `records/s (best of ${ROUNDS}, ${RECORDS} records of ${recordSize} B, acks=all):\n` +
        `  ProducerPerformance (baseline) ${Math.round(baseline)}\n` +
        `  @platformatic/kafka            ${Math.round(client)}\n` +
        `  ratio client/baseline          ${(client / baseline).toFixed(2)}x\n` +
        `  outbox, ${OUTBOX_IN_FLIGHT} in flight        ${Math.round(outboxRate)} (${(outboxRate / baseline).toFixed(2)}x; goal 0.5x)\n` +
        `  outbox, ${IN_FLIGHT} loops             ${Math.round(outboxLatencyBound)} (${(outboxLatencyBound / baseline).toFixed(2)}x)\n` +
        `  audit chain (→ PostgreSQL)     ${Math.round(chainRate)} (${(chainRate / baseline).toFixed(2)}x)\n`,
    );
    mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
    writeFileSync(
      path.join(import.meta.dirname, 'results', 'kafka.json'),
      `${JSON.stringify(results, null, 2)}\n`,
    );
  } finally {
    await kafka.stop();
    removeRunDir(dir);
  }
}

await main();
