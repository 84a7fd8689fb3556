import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import {
  ensureTopicsAndAcls,
  KAFKA_SASL_MECHANISM,
  KAFKA_SERVICES,
  type KafkaService,
} from '../../../lib/kafka-topics.js';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

const run = promisify(execFile);
const FETCH = fileURLToPath(new URL('../../bins/kafka/fetch.sh', import.meta.url));

export interface KafkaCredentials {
  readonly username: string;
  readonly password: string;
}

export interface KafkaInstance {
  /** `127.0.0.1:PORT`: the SASL/SCRAM client listener (KAFKA_BOOTSTRAP). */
  readonly bootstrap: string;
  readonly port: number;
  readonly controllerPort: number;
  /** With `pods`: the port of the pods' listener on `pods.host` (a Service's target port). */
  readonly podPort?: number;
  /** The super user: topics, ACLs, test read-backs. Never handed to code under test. */
  readonly admin: KafkaCredentials;
  /** One SCRAM principal per service (`User:<service>`), with only the ACLs of lib/kafka-topics.ts. */
  readonly services: Readonly<Record<KafkaService, KafkaCredentials>>;
  readonly process: ManagedProcess;
  /** An admin client logged in as the super user (closed by `stop`). */
  adminClient(): Admin;
  /** Kills the broker without warning (outage tests); `startServer()` brings it back on the same ports and data. */
  crash(): Promise<void>;
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

export interface KafkaOptions {
  /** JVM heap; default 512m (the machine has 2 cores and is shared). */
  readonly heap?: string;
  /** Create the project's topics and ACLs (lib/kafka-topics.ts). Default true. */
  readonly topics?: boolean;
  /**
   * A second SASL/SCRAM listener for the pods of the harness's Kubernetes node: it listens on `host` (the
   * node's bridge address) and tells clients to come back through `advertised` (`kafka.kafka.svc:9092`, a
   * Service whose EndpointSlice names `host`:`podPort`), a name only pods resolve. Test code keeps using the
   * loopback listener, which advertises its own address.
   */
  readonly pods?: { readonly host: string; readonly advertised: string };
}

/** A service's Kafka client settings as its own principal, on the loopback listener (KAFKA_* of docs/contracts.md). */
export function kafkaEnv(kafka: KafkaInstance, service: KafkaService) {
  return {
    KAFKA_BOOTSTRAP: kafka.bootstrap,
    KAFKA_USERNAME: kafka.services[service].username,
    KAFKA_PASSWORD: kafka.services[service].password,
  };
}

/** The jars from Maven Central, fetched once into the cache by test/bins/kafka/fetch.sh (KAFKA_LIBS honoured). */
export function kafkaLibs(): string {
  const out = execFileSync('bash', [FETCH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.split('\n').find((l) => l.startsWith('KAFKA_LIBS='));
  if (!line) throw new Error('test/bins/kafka/fetch.sh printed no KAFKA_LIBS');
  return line.slice('KAFKA_LIBS='.length);
}

/**
 * A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `kafka-storage random-uuid` prints).
 * Never one that starts with `-`: the storage tool would read it as an option ("expected one argument"), about
 * one start in 64; Kafka's own Uuid.randomUuid() draws again in that case too.
 */
export function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

const password = () => randomBytes(18).toString('base64url');

export function saslOptions(c: KafkaCredentials) {
  return { mechanism: KAFKA_SASL_MECHANISM, username: c.username, password: c.password } as const;
}

const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
logger.auth.name = kafka.authorizer.logger
logger.auth.level = WARN
`;

/**
 * Apache Kafka 4.x in KRaft mode on loopback: one process that is both broker and controller (node 1), in
 * a fresh directory under `dir`, on free ports.
 *
 * Security: the client listener is SASL_PLAINTEXT with SCRAM-SHA-256 only (credentials written into the
 * metadata at format time, `--add-scram`); the controller listener is SASL_PLAINTEXT with PLAIN and a
 * controller-only user, so nothing on loopback reaches either listener unauthenticated. The
 * StandardAuthorizer refuses everything without an ACL; `admin` and `controller` are the super users. The
 * services' ACLs and the topics come from lib/kafka-topics.ts. Passwords are random per instance and
 * live only in the run directory (mode 0600) and this object.
 */
export async function startKafka(dir: string, opts: KafkaOptions = {}): Promise<KafkaInstance> {
  const libs = kafkaLibs();
  const home = path.join(dir, 'kafka');
  const dataDir = path.join(home, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const [port, controllerPort] = [await freePort(), await freePort()];
  const podPort = opts.pods ? await freePort() : undefined;
  const admin: KafkaCredentials = { username: 'admin', password: password() };
  const controllerPassword = password();
  const services = Object.fromEntries(
    KAFKA_SERVICES.map((s) => [s, { username: s, password: password() }]),
  ) as Record<KafkaService, KafkaCredentials>;

  const jaasString = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const scramJaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${jaasString(admin.password)}";`;
  // The pods' listener: the same SCRAM principals and ACLs as the loopback one, on the bridge address.
  const pods =
    opts.pods && podPort
      ? {
          listener: `,POD://${opts.pods.host}:${podPort}`,
          advertised: `,POD://${opts.pods.advertised}`,
          protocol: ',POD:SASL_PLAINTEXT',
          props: [
            `listener.name.pod.sasl.enabled.mechanisms=${KAFKA_SASL_MECHANISM}`,
            `listener.name.pod.scram-sha-256.sasl.jaas.config=${scramJaas}`,
          ],
        }
      : { listener: '', advertised: '', protocol: '', props: [] };
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=CLIENT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${pods.listener}`,
    `advertised.listeners=CLIENT://127.0.0.1:${port}${pods.advertised}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=CLIENT',
    `listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT${pods.protocol}`,
    ...pods.props,
    `sasl.enabled.mechanisms=${KAFKA_SASL_MECHANISM}`,
    `listener.name.client.sasl.enabled.mechanisms=${KAFKA_SASL_MECHANISM}`,
    `sasl.mechanism.inter.broker.protocol=${KAFKA_SASL_MECHANISM}`,
    `listener.name.client.scram-sha-256.sasl.jaas.config=${scramJaas}`,
    'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
    'sasl.mechanism.controller.protocol=PLAIN',
    `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${jaasString(controllerPassword)}" user_controller="${jaasString(controllerPassword)}";`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users=User:admin;User:controller',
    'allow.everyone.if.no.acl.found=false',
    `log.dirs=${dataDir}`,
    'auto.create.topics.enable=false',
    'num.partitions=1',
    'default.replication.factor=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=2',
    'log.cleaner.enable=false',
  ];
  const propsFile = path.join(home, 'server.properties');
  writeFileSync(propsFile, `${props.join('\n')}\n`, { mode: 0o600 });
  const log4j = path.join(home, 'log4j2.properties');
  writeFileSync(log4j, LOG4J2);

  const heap = opts.heap ?? '512m';
  const jvm = [
    `-Xmx${heap}`,
    '-Xms128m',
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    `${libs}/*`,
  ];
  // Format: the cluster id, and the SCRAM credentials of every principal in the first metadata records.
  const scram = [admin, ...Object.values(services)].flatMap((c) => [
    '--add-scram',
    `${KAFKA_SASL_MECHANISM}=[name=${c.username},password=${c.password}]`,
  ]);
  await run(
    'java',
    [
      ...jvm.filter((a) => !a.startsWith('-Xms')),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId(),
      '-c',
      propsFile,
      ...scram,
    ],
    { timeout: 120_000 },
  ).catch((err: { stderr?: string; stdout?: string }) => {
    // The arguments hold passwords: report the tool's own output only.
    throw new Error(`kafka storage format failed: ${(err.stderr || err.stdout || '').slice(-2000)}`);
  });

  const client = (c: KafkaCredentials) =>
    new Admin({
      clientId: 'novapos-harness',
      bootstrapBrokers: [`127.0.0.1:${port}`],
      sasl: saslOptions(c),
      connectTimeout: 2000,
      requestTimeout: 10_000,
      retries: 0,
    });
  const ready = async () => {
    const a = client(admin);
    try {
      const md = await a.metadata({ topics: [] });
      return md.brokers.size > 0;
    } catch {
      return false;
    } finally {
      await a.close().catch(() => {});
    }
  };
  const spawn = () =>
    ManagedProcess.start(
      {
        name: 'kafka',
        command: 'java',
        args: [...jvm, 'kafka.Kafka', propsFile],
        ready,
        readyTimeoutMs: 180_000,
      },
      path.join(dir, 'logs'),
    );
  let proc = await spawn();
  const admins: Admin[] = [];
  try {
    if (opts.topics ?? true) {
      const a = client(admin);
      try {
        await ensureTopicsAndAcls(a, { replicas: 1 });
      } finally {
        await a.close();
      }
    }
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    controllerPort,
    podPort,
    admin,
    services,
    get process() {
      return proc;
    },
    adminClient() {
      const a = client(admin);
      a.on?.('error', () => {});
      admins.push(a);
      return a;
    },
    async crash() {
      await proc.crash();
    },
    async stopServer() {
      await proc.stop(20_000);
    },
    async startServer() {
      if (proc.isRunning) return;
      proc = await spawn();
    },
    async stop() {
      await Promise.all(admins.map((a) => a.close().catch(() => {})));
      await proc.stop(20_000);
    },
  };
}
