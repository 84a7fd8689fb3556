import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import {
  type KafkaCredentials,
  type KafkaInstance,
  saslOptions,
  startKafka,
} from '../harness/components/kafka.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';

/**
 * The real broker of the harness (issue 20): KRaft, SASL/SCRAM on the only client listener, ACLs from
 * lib/kafka-topics.ts. A producer with no credentials, wrong ones, or another service's is refused.
 */
const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
let kafka: KafkaInstance;

beforeAll(async () => {
  dir = makeRunDir('kafka-broker');
  kafka = await startKafka(dir);
});

afterAll(async () => {
  await kafka?.stop();
  removeRunDir(dir);
});

function producer(creds?: KafkaCredentials) {
  return new Producer({
    clientId: 'broker-test',
    bootstrapBrokers: [kafka.bootstrap],
    serializers: stringSerializers,
    ...(creds ? { sasl: saslOptions(creds) } : {}),
    connectTimeout: 3000,
    requestTimeout: 5000,
    retries: 0,
    idempotent: false,
    acks: -1,
  });
}

async function trySend(creds: KafkaCredentials | undefined, topic: string): Promise<'ok' | string> {
  const p = producer(creds);
  try {
    await p.send({ messages: [{ topic, key: 'tenant-a', value: '{"type":"probe"}' }] });
    return 'ok';
  } catch (err) {
    return describeError(err);
  } finally {
    await p.close().catch(() => {});
  }
}

/** The client nests the broker's answer in AggregateErrors and ResponseErrors: flatten it to one line. */
function describeError(err: unknown, depth = 0): string {
  if (!(err instanceof Error) || depth > 4) return String(err);
  const e = err as Error & { errors?: unknown[]; response?: unknown; code?: string };
  const response = e.response
    ? ` ${JSON.stringify(e.response, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`
    : '';
  const inner = (e.errors ?? []).map((x) => describeError(x, depth + 1)).join(' | ');
  return `${e.name}(${e.code ?? ''}): ${e.message}${response}${inner ? ` [${inner}]` : ''}`;
}

describe('kafka in the harness', () => {
  it('has the project topics with their partitions, created from lib/kafka-topics.ts', async () => {
    const admin = kafka.adminClient();
    const names = Object.values(SECURITY_TOPICS).map((t) => t.name);
    const all = await admin.metadata({ topics: names, forceUpdate: true });
    expect([...all.topics.keys()].sort()).toEqual([...names].sort());
    const md = await admin.metadata({ topics: [SECURITY_TOPICS.audit.name] });
    expect(md.topics.get(SECURITY_TOPICS.audit.name)?.partitionsCount).toBe(SECURITY_TOPICS.audit.partitions);
  });

  it('lets each service write its own topics', async () => {
    expect(await trySend(kafka.services['auth-service'], SECURITY_TOPICS.mfaActivity.name)).toBe('ok');
    expect(await trySend(kafka.services['auth-service'], SECURITY_TOPICS.audit.name)).toBe('ok');
    expect(await trySend(kafka.services['integration-gateway'], SECURITY_TOPICS.alerts.name)).toBe('ok');
    expect(await trySend(kafka.services['integration-gateway'], SECURITY_TOPICS.audit.name)).toBe('ok');
  });

  it('has a topic job (lib/kafka-topics.ts) that is idempotent and needs the super user', async () => {
    const run = (username: string, password: string) =>
      execFileAsync(process.execPath, ['--import', 'tsx', 'lib/kafka-topics.ts'], {
        cwd: repoRoot,
        env: {
          ...process.env,
          KAFKA_BOOTSTRAP: kafka.bootstrap,
          KAFKA_USERNAME: username,
          KAFKA_PASSWORD: password,
        },
        timeout: 60_000,
      });
    const ok = await run(kafka.admin.username, kafka.admin.password);
    expect(ok.stdout).toContain('none (all existed)');
    const svc = kafka.services['auth-service'];
    const refused = await run(svc.username, svc.password).catch((e: { code: number; stderr: string }) => e);
    expect((refused as { code: number }).code).toBe(1);
    expect((refused as { stderr: string }).stderr).not.toContain(svc.password);
  });

  it('never writes a password to the broker log', () => {
    const log = readFileSync(kafka.process.logFile, 'utf8');
    for (const c of [kafka.admin, ...Object.values(kafka.services)]) expect(log).not.toContain(c.password);
  });

  it('refuses a producer without credentials', async () => {
    expect(await trySend(undefined, SECURITY_TOPICS.audit.name)).not.toBe('ok');
  });

  it('refuses a wrong password', async () => {
    const wrong = { username: 'auth-service', password: 'not-the-password' };
    const outcome = await trySend(wrong, SECURITY_TOPICS.audit.name);
    expect(outcome).not.toBe('ok');
    expect(outcome).not.toContain('not-the-password');
  });

  it("refuses another service's topic and the audit-service as a producer", async () => {
    expect(await trySend(kafka.services['integration-gateway'], SECURITY_TOPICS.mfaActivity.name)).toMatch(
      /authori[sz]ation|TOPIC_AUTHORIZATION|not authori/i,
    );
    expect(await trySend(kafka.services['auth-service'], SECURITY_TOPICS.alerts.name)).toMatch(
      /authori[sz]ation|not authori/i,
    );
    expect(await trySend(kafka.services['audit-service'], SECURITY_TOPICS.audit.name)).toMatch(
      /authori[sz]ation|not authori/i,
    );
  });
});
