import { describe, expect, it } from 'vitest';
import {
  deploymentParts,
  type K8sObject,
  type NodeInstance,
  operatorManifests,
  type PodSpec,
  podTargets,
  servicesManifests,
} from './start-node.js';

// What npm start does to the charts as shipped (charts/dist) before applying them in its node, and how it
// picks the pods a loopback port forwards to.

const deployments = (objects: readonly K8sObject[]) => objects.filter((o) => o.kind === 'Deployment');
const podSpec = (d: K8sObject): PodSpec => deploymentParts('test', d).pod;

describe('operatorManifests', () => {
  const objects = operatorManifests({
    image: 'novapos/operator:local',
    replicas: 1,
    vaultAddr: 'http://10.217.0.1:8200',
    vaultToken: 'root-token',
    vaultStagingToken: 'staging-token',
    redisUrl: 'redis://10.217.0.1:6379',
    drillWebhookToken: 'drill-token',
    connectionsYaml: 'connections: {}\n',
  });

  it('runs the chart with the image built here, the local replica count and the connections file mounted', () => {
    const [operator] = deployments(objects);
    expect(operator?.spec?.replicas).toBe(1);
    const pod = podSpec(operator as K8sObject);
    for (const c of pod.containers ?? []) {
      expect(c.image).toBe('novapos/operator:local');
      expect(c.imagePullPolicy).toBe('Never');
      const names = (c.env ?? []).map((e) => e.name);
      expect(names).toContain('VAULT_TOKEN');
      expect(names).not.toContain('VAULT_KUBERNETES_ROLE');
      expect(c.volumeMounts).toContainEqual(expect.objectContaining({ name: 'connections' }));
    }
    expect(pod.volumes?.filter((v) => v.name === 'connections')).toHaveLength(1);
  });

  it('adds the Secrets the chart reads, tokens in Secrets and not in the pod spec', () => {
    const secrets = objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata?.name);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'novapos-operator-redis',
        'novapos-operator-drill-webhook',
        'novapos-operator-local-vault',
        'novapos-operator-connections',
      ]),
    );
    expect(JSON.stringify(deployments(objects))).not.toContain('root-token');
  });
});

describe('servicesManifests', () => {
  const { objects, leftOut } = servicesManifests({
    images: {
      'auth-service': 'novapos/auth:local',
      'integration-gateway': 'novapos/gateway:local',
      'audit-service': 'novapos/audit:local',
    },
    replicas: 1,
    databaseUrl: 'postgres://admin@10.217.0.1:5432/novapos',
    gatewayDatabaseUrl: 'postgres://novapos_gateway@10.217.0.1:5432/novapos',
    redisUrl: 'redis://10.217.0.1:6379',
    auditDatabaseUrl: 'postgres://novapos_audit@10.217.0.1:5432/novapos_audit',
    auditDatabaseAdminUrl: 'postgres://admin@10.217.0.1:5432/novapos_audit',
    kafkaPasswords: {
      'auth-service': 'auth-kafka-password',
      'integration-gateway': 'gateway-kafka-password',
      'audit-service': 'audit-kafka-password',
    },
  });

  it('runs auth-service, the gateway and the audit-service with the images built here and one replica each', () => {
    const images = deployments(objects).map((d) => [
      d.metadata?.name,
      d.spec?.replicas,
      podSpec(d).containers?.map((c) => [c.image, c.imagePullPolicy]),
    ]);
    expect(images).toEqual([
      ['auth-service', 1, [['novapos/auth:local', 'Never']]],
      ['integration-gateway', 1, [['novapos/gateway:local', 'Never']]],
      ['audit-service', 1, [['novapos/audit:local', 'Never']]],
    ]);
  });

  it("gives each service the Kafka password Secret the chart mounts (its own principal's)", () => {
    const secrets = objects.filter((o) => o.kind === 'Secret' && o.metadata?.name?.endsWith('-kafka'));
    expect(secrets.map((o) => [o.metadata?.name, (o as { stringData?: unknown }).stringData])).toEqual([
      ['auth-service-kafka', { KAFKA_PASSWORD: 'auth-kafka-password' }],
      ['integration-gateway-kafka', { KAFKA_PASSWORD: 'gateway-kafka-password' }],
      ['audit-service-kafka', { KAFKA_PASSWORD: 'audit-kafka-password' }],
    ]);
    for (const d of deployments(objects)) {
      const volumes = podSpec(d).volumes ?? [];
      expect(volumes, d.metadata?.name).toContainEqual(
        expect.objectContaining({
          name: 'kafka',
          secret: expect.objectContaining({ secretName: `${d.metadata?.name}-kafka` }),
        }),
      );
    }
  });

  it("names the chart's objects of components the local stack does not run", () => {
    // The role Job: npm start makes the roles itself, with the admin credential, before installing.
    expect(leftOut.filter((o) => o.startsWith('Job/'))).toHaveLength(1);
    expect(leftOut.some((o) => o.includes('audit-service'))).toBe(false);
  });
});

describe('deploymentParts', () => {
  it('names the chart and the Deployment that has no pod spec, instead of failing on undefined', () => {
    const broken: K8sObject = { kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2 } };
    expect(() => deploymentParts('novapos-services.yaml', broken)).toThrow(
      'novapos-services.yaml: Deployment web has no spec.template.spec',
    );
    expect(() => deploymentParts('novapos-services.yaml', { kind: 'Deployment' })).toThrow(
      'Deployment (no name) has no spec.template.spec',
    );
  });
});

describe('podTargets', () => {
  it('forwards only to ready pods that have an IP and are not being deleted', async () => {
    const pod = (name: string, podIP: string | undefined, ready: boolean, deleting = false) => ({
      metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
      status: { podIP, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const items = [
      pod('a', '10.217.0.10', true),
      pod('b', '10.217.0.11', false),
      pod('c', undefined, true),
      pod('d', '10.217.0.13', true, true),
      pod('e', '10.217.0.14', true),
      { metadata: {}, status: { podIP: '10.217.0.15' } },
    ];
    const calls: string[][] = [];
    const node = {
      kubectl: async (args: string[]) => {
        calls.push(args);
        return JSON.stringify({ items });
      },
    } as unknown as NodeInstance;
    const targets = await podTargets(node, 'novapos', 'app.kubernetes.io/name=auth-service', 8085)();
    expect(targets).toEqual([
      { host: '10.217.0.10', port: 8085 },
      { host: '10.217.0.14', port: 8085 },
    ]);
    expect(calls).toEqual([
      ['-n', 'novapos', 'get', 'pods', '-l', 'app.kubernetes.io/name=auth-service', '-o', 'json'],
    ]);
  });
});
