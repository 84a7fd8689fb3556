/**
 * The security event topics, their settings and who may touch them: the ONE place (issue 20). The harness,
 * `npm start` and the chart's topic job create topics and ACLs from this module only; the services read the
 * topic names from their env (`SECURITY_MFA_ACTIVITY_TOPIC`, `SECURITY_AUDIT_TOPIC`, `SECURITY_ALERT_TOPIC`)
 * with these names as defaults.
 *
 * Access (SASL/SCRAM principals, `User:<service>`): each service writes only the topics it owns, the
 * audit-service reads them all (in its own consumer group) and writes none. Nobody else gets anything:
 * the broker runs with `allow.everyone.if.no.acl.found=false`.
 */
import {
  type Acl,
  AclOperations,
  AclPermissionTypes,
  type Admin,
  ResourcePatternTypes,
  ResourceTypes,
} from '@platformatic/kafka';
import { errorClass } from './errors.js';

export const KAFKA_SERVICES = ['auth-service', 'integration-gateway', 'audit-service'] as const;
export type KafkaService = (typeof KAFKA_SERVICES)[number];

export interface TopicSpec {
  readonly name: string;
  /** The env variable a service reads the name from (docs/contracts.md, "Events"). */
  readonly env: string;
  /** Keyed by tenant: the partition count bounds how many tenants are ordered independently. */
  readonly partitions: number;
  /** Topic-level configs (strings, as Kafka takes them). */
  readonly configs: Readonly<Record<string, string>>;
  /** Principals allowed to produce. */
  readonly writers: readonly KafkaService[];
  /** Principals allowed to consume. */
  readonly readers: readonly KafkaService[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const SECURITY_TOPICS = {
  mfaActivity: {
    name: 'security.mfa.activity',
    env: 'SECURITY_MFA_ACTIVITY_TOPIC',
    partitions: 3,
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': String(7 * DAY_MS),
      'max.message.bytes': '1048576',
    },
    writers: ['auth-service'],
    readers: ['audit-service'],
  },
  audit: {
    name: 'audit.events.v1',
    env: 'SECURITY_AUDIT_TOPIC',
    partitions: 3,
    // Longer than the others: the audit-service may be down for a while and must catch up (the DR drill).
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': String(30 * DAY_MS),
      'max.message.bytes': '1048576',
    },
    writers: ['auth-service', 'integration-gateway'],
    readers: ['audit-service'],
  },
  alerts: {
    name: 'security.alerts.v1',
    env: 'SECURITY_ALERT_TOPIC',
    partitions: 3,
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': String(7 * DAY_MS),
      'max.message.bytes': '1048576',
    },
    writers: ['integration-gateway'],
    readers: ['audit-service'],
  },
} as const satisfies Record<string, TopicSpec>;

export const ALL_TOPICS: readonly TopicSpec[] = Object.values(SECURITY_TOPICS);

/** The audit-service's consumer group (its principal may read this group and no other). */
export const AUDIT_CONSUMER_GROUP = 'audit-service';

/** Env names of a service's Kafka credentials (docs/contracts.md): the password is a secret. */
export const KAFKA_CREDENTIAL_ENV = {
  bootstrap: 'KAFKA_BOOTSTRAP',
  username: 'KAFKA_USERNAME',
  password: 'KAFKA_PASSWORD',
  passwordFile: 'KAFKA_PASSWORD_FILE',
  mechanism: 'KAFKA_SASL_MECHANISM',
} as const;

/** The SASL mechanism the broker accepts on the client listener. */
export const KAFKA_SASL_MECHANISM = 'SCRAM-SHA-256';

/** Every ACL the plan above implies, for `User:<service>` principals. */
export function topicAcls(topics: readonly TopicSpec[] = ALL_TOPICS): Acl[] {
  const allow = (principal: string, resourceType: number, resourceName: string, operation: number): Acl => ({
    resourceType: resourceType as Acl['resourceType'],
    resourceName,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: `User:${principal}`,
    host: '*',
    operation: operation as Acl['operation'],
    permissionType: AclPermissionTypes.ALLOW,
  });
  const acls: Acl[] = [];
  for (const t of topics) {
    for (const w of t.writers) acls.push(allow(w, ResourceTypes.TOPIC, t.name, AclOperations.WRITE));
    for (const r of t.readers) {
      acls.push(allow(r, ResourceTypes.TOPIC, t.name, AclOperations.READ));
      acls.push(allow(r, ResourceTypes.TOPIC, t.name, AclOperations.DESCRIBE));
    }
  }
  acls.push(allow('audit-service', ResourceTypes.GROUP, AUDIT_CONSUMER_GROUP, AclOperations.READ));
  return acls;
}

/**
 * Creates the topics that do not exist yet and the ACLs (creating an existing ACL is a no-op in Kafka).
 * Runs with a privileged (super-user) admin client: the harness, `npm start`, the chart's topic job.
 */
export async function ensureTopicsAndAcls(
  admin: Admin,
  opts: { replicas?: number; topics?: readonly TopicSpec[]; timeoutMs?: number } = {},
): Promise<{ created: string[] }> {
  const topics = opts.topics ?? ALL_TOPICS;
  const existing = new Set(await admin.listTopics());
  // (listTopics answers from the client's metadata cache: a fresh admin client per call site.)
  const created: string[] = [];
  for (const t of topics) {
    if (existing.has(t.name)) continue;
    await admin.createTopics({
      topics: [t.name],
      partitions: t.partitions,
      replicas: opts.replicas ?? 1,
      configs: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
    });
    created.push(t.name);
  }
  const acls = topicAcls(topics);
  await admin.createAcls({ creations: acls });
  // ACLs (and new topics) reach the broker's authorizer through the metadata log a moment later: wait until
  // they are all visible, so a producer started right after is not refused.
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const seen = await admin.describeAcls({
      filter: {
        resourceType: ResourceTypes.ANY,
        resourceName: null,
        resourcePatternType: ResourcePatternTypes.ANY,
        principal: null,
        host: null,
        operation: AclOperations.ANY,
        permissionType: AclPermissionTypes.ANY,
      },
    });
    const count = seen.reduce((n, r) => n + r.acls.length, 0);
    const md = await admin
      .metadata({ topics: topics.map((t) => t.name), forceUpdate: true })
      .catch(() => undefined);
    if (count >= acls.length && md && topics.every((t) => md.topics.has(t.name))) break;
    if (Date.now() > deadline) throw new Error(`Kafka ACLs not visible after ${opts.timeoutMs ?? 30_000} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { created };
}

/**
 * The topic job: `KAFKA_BOOTSTRAP=... KAFKA_USERNAME=<super user> KAFKA_PASSWORD=... npx tsx lib/kafka-topics.ts`
 * (`KAFKA_REPLICAS`, default 1) creates the topics and ACLs above and exits; run by a chart's Job or by hand.
 */
async function topicJob(): Promise<void> {
  const { kafkaConfigFromEnv } = await import('./kafka-events.js');
  const { Admin: AdminClient } = await import('@platformatic/kafka');
  const kafka = kafkaConfigFromEnv(process.env);
  if (!kafka) throw new Error('KAFKA_BOOTSTRAP is required');
  const admin = new AdminClient({
    clientId: 'novapos-topic-job',
    bootstrapBrokers: [...kafka.bootstrap],
    sasl: { mechanism: kafka.mechanism, username: kafka.username, password: kafka.password },
  });
  try {
    const { created } = await ensureTopicsAndAcls(admin, {
      replicas: Number(process.env.KAFKA_REPLICAS ?? 1),
    });
    process.stdout.write(`topics created: ${created.join(', ') || 'none (all existed)'}; ACLs in place\n`);
  } finally {
    await admin.close();
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  topicJob().catch((err: unknown) => {
    // The class only: a SASL failure's message may quote the principal's input.
    process.stderr.write(`topic job failed: ${errorClass(err)}\n`);
    process.exit(1);
  });
}
