import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { SECURITY_TOPICS } from '../../../lib/kafka-topics.js';
import { AuditService } from './audit-service.js';
import { testApp } from './test-app.test-support.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function synth(props: Partial<ConstructorParameters<typeof AuditService>[2]> = {}) {
  const chart = new Chart(testApp(), 'test');
  new AuditService(chart, 'audit', {
    namespace: 'novapos',
    image: 'ghcr.io/novapos/audit-service:0.1.0',
    kafkaBootstrap: 'kafka.kafka.svc:9092',
    jwksUrl: 'http://auth-service.novapos.svc:8085/.well-known/jwks.json',
    vaultAddress: 'http://vault.vault.svc:8200',
    ...props,
  });
  // biome-ignore lint/suspicious/noExplicitAny: synthesized manifests, read field by field
  return Testing.synth(chart) as any[];
}

type EnvVar = { name: string; value?: string; valueFrom?: unknown };
const envOf = (c: { env: EnvVar[] }) =>
  Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));

describe('AuditService construct', () => {
  const objects = synth();
  const deployment = objects.find((o) => o.kind === 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  /** A read-only mount of the pod's volume `name`, whose source is `source`. */
  const expectMounted = (name: string, mountPath: string, source: Record<string, unknown>) => {
    expect(container.volumeMounts).toContainEqual({ name, mountPath, readOnly: true });
    expect(pod.volumes).toContainEqual({ name, ...source });
  };

  it('synthesizes a ServiceAccount, a Deployment, a Service and a ServiceMonitor', () => {
    expect(objects.map((o) => o.kind)).toEqual(['ServiceAccount', 'Deployment', 'Service', 'ServiceMonitor']);
  });

  it('runs non-root with a read-only root filesystem, no capabilities, resources and probes on its admin port', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests).toEqual({ cpu: '100m', memory: '128Mi' });
    expect(container.resources.limits).toEqual({ cpu: '1', memory: '512Mi' });
    expect(container.ports).toEqual([{ name: 'admin', containerPort: 9087, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
  });

  it('takes PostgreSQL from a Secret and the Kafka password from a mounted Secret, never as a value', () => {
    const env = envOf(container);
    expect(env['DATABASE_URL']).toEqual({
      secretKeyRef: { name: 'audit-service-database', key: 'DATABASE_URL' },
    });
    expect(env['DATABASE_ADMIN_URL']).toEqual({
      secretKeyRef: { name: 'audit-service-database', key: 'DATABASE_ADMIN_URL' },
    });
    expect(env).toMatchObject({
      ADMIN_PORT: '9087',
      KAFKA_BOOTSTRAP: 'kafka.kafka.svc:9092',
      KAFKA_USERNAME: 'audit-service',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_PASSWORD_FILE: '/var/run/secrets/novapos/kafka/KAFKA_PASSWORD',
      AUDIT_JWKS_URL: 'http://auth-service.novapos.svc:8085/.well-known/jwks.json',
      AUDIT_RETENTION_DAYS: '2555',
    });
    expect(env['KAFKA_PASSWORD']).toBeUndefined();
    for (const t of Object.values(SECURITY_TOPICS)) expect(env[t.env]).toBe(t.name);
    expectMounted('kafka', '/var/run/secrets/novapos/kafka', {
      secret: {
        secretName: 'audit-service-kafka',
        items: [{ key: 'KAFKA_PASSWORD', path: 'KAFKA_PASSWORD' }],
      },
    });
    // Without a token Secret the pause/resume routes stay off.
    expect(env['AUDIT_ADMIN_TOKEN_FILE']).toBeUndefined();
    // No value in the pod spec looks like a credential.
    expect(JSON.stringify(deployment)).not.toMatch(/postgres(ql)?:\/\/|password=/i);
  });

  it("signs chain heads by default: Kubernetes auth with its own ServiceAccount, the policy's transit key and path", () => {
    const account = objects.find((o) => o.kind === 'ServiceAccount');
    expect(account.metadata.name).toBe('audit-service');
    expect(account.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('audit-service');
    expect(envOf(container)).toMatchObject({
      VAULT_ADDR: 'http://vault.vault.svc:8200',
      VAULT_AUTH_METHOD: 'kubernetes',
      VAULT_K8S_ROLE: 'audit-service',
      VAULT_K8S_MOUNT: 'kubernetes',
      VAULT_K8S_TOKEN_PATH: '/var/run/secrets/vault/token',
      AUDIT_TRANSIT_MOUNT: 'transit',
      AUDIT_TRANSIT_KEY: 'novapos-audit-chain',
      AUDIT_CHECKPOINT_KV_MOUNT: 'secret',
      AUDIT_CHECKPOINT_PATH: 'novapos/audit-checkpoints',
      AUDIT_SIGN_INTERVAL_MS: '60000',
    });
    // No Vault token in the pod spec: a projected ServiceAccount token for Vault only, renewed by the kubelet.
    expect(envOf(container)['VAULT_TOKEN']).toBeUndefined();
    expectMounted('vault-token', '/var/run/secrets/vault', {
      projected: {
        sources: [{ serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 3600 } }],
      },
    });
    // The policy grants exactly these paths (operator/vault-policies/audit-service.hcl).
    const policy = readFileSync(path.join(repoRoot, 'operator/vault-policies/audit-service.hcl'), 'utf8');
    expect(policy).toContain('path "transit/sign/novapos-audit-chain"');
    expect(policy).toContain('path "secret/data/novapos/audit-checkpoints/*"');
  });

  it('takes another role and the admin token from a file when their Secret is given', () => {
    const c = synth({ adminTokenSecretName: 'audit-admin', vaultRole: 'audit-prod' }).find(
      (o) => o.kind === 'Deployment',
    ).spec.template.spec.containers[0];
    expect(envOf(c)).toMatchObject({
      AUDIT_ADMIN_TOKEN_FILE: '/var/run/secrets/novapos/admin-token/AUDIT_ADMIN_TOKEN',
      VAULT_K8S_ROLE: 'audit-prod',
    });
  });

  it('exposes only the admin port, scraped by the ServiceMonitor', () => {
    const service = objects.find((o) => o.kind === 'Service');
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor');
    expect(service.spec.ports).toEqual([{ name: 'admin', port: 9087, targetPort: 'admin', protocol: 'TCP' }]);
    expect(monitor.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(monitor.spec.endpoints).toEqual([{ port: 'admin', path: '/metrics', interval: '30s' }]);
  });
});
