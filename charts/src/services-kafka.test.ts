import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KAFKA_SERVICES, SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { synthesize } from './main.js';

// Issue 16/20: deployed as shipped, auth-service and the gateway had no Kafka settings at all, so their
// security events stayed log lines and the audit-service (which the chart does connect) chained nothing.
// Each service logs in as its own principal, whose ACLs (lib/kafka-topics.ts) cover exactly the topics it is
// told about, with the password as a mounted file.

interface Container {
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Deployment {
  kind: string;
  metadata: { name: string };
  spec: { template: { spec: { containers: Container[]; volumes?: { name: string; secret?: unknown }[] } } };
}

const docs = parseAllDocuments(synthesize()['novapos-services.yaml'] ?? '').map(
  (d) => d.toJS() as Deployment,
);

function deploymentOf(name: string): Deployment {
  const d = docs.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
  if (!d) throw new Error(`no Deployment ${name} in the services chart`);
  return d;
}

describe("the services chart's Kafka clients", () => {
  it.each(KAFKA_SERVICES)('gives %s its own principal, the broker and its password as a file', (service) => {
    const pod = deploymentOf(service).spec.template.spec;
    const container = pod.containers[0] as Container;
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      KAFKA_BOOTSTRAP: 'kafka.kafka.svc:9092',
      KAFKA_USERNAME: service,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_PASSWORD_FILE: '/var/run/secrets/novapos/kafka/KAFKA_PASSWORD',
    });
    expect(env['KAFKA_PASSWORD']).toBeUndefined();
    expect(container.volumeMounts).toContainEqual({
      name: 'kafka',
      mountPath: '/var/run/secrets/novapos/kafka',
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({
      name: 'kafka',
      secret: { secretName: `${service}-kafka`, items: [{ key: 'KAFKA_PASSWORD', path: 'KAFKA_PASSWORD' }] },
    });
  });

  it.each(KAFKA_SERVICES)('names to %s exactly the topics its ACLs let it write or read', (service) => {
    const container = deploymentOf(service).spec.template.spec.containers[0] as Container;
    const named = new Set((container.env ?? []).map((e) => e.name));
    for (const t of Object.values(SECURITY_TOPICS)) {
      const allowed = [...t.writers, ...t.readers].includes(service);
      expect(named.has(t.env), `${t.env} (${t.name})`).toBe(allowed);
    }
  });
});
