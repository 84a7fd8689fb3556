import { describe, expect, it } from 'vitest';
import { IntegrationGateway } from './integration-gateway.js';
import { synthConstruct } from './test-app.test-support.js';

function synth(props: Partial<ConstructorParameters<typeof IntegrationGateway>[2]> = {}) {
  return synthConstruct(IntegrationGateway, 'gateway', {
    namespace: 'novapos',
    image: 'novapos/integration-gateway:1.0.0',
    jwksUrl: 'http://auth-service:8085/.well-known/jwks.json',
    redisUrlSecret: { name: 'gateway-redis', key: 'url' },
    databaseUrlSecret: { name: 'gateway-db', key: 'url' },
    ...props,
  });
}

describe('IntegrationGateway', () => {
  const objects = synth();
  const deployment = objects.find((o) => o.kind === 'Deployment');
  const container = deployment.spec.template.spec.containers[0];

  it('synthesizes the same manifests as before (snapshot)', () => {
    expect(objects).toMatchSnapshot();
  });

  it('runs non-root with a read-only root filesystem, no capabilities and probes on its admin port', () => {
    expect(deployment.spec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
    });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.ports).toEqual([
      { name: 'http', containerPort: 8083, protocol: 'TCP' },
      { name: 'admin', containerPort: 9083, protocol: 'TCP' },
    ]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
  });

  it('gives a slow start a minute before the liveness probe may restart it (a startup probe, as auth-service)', () => {
    // Seen on the real node under load (test/cluster): the gateway listened ~45 s after its container started
    // (Redis, migrations, the first JWKS fetch), while liveness alone restarts it after 30 s of refusals.
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(
      container.startupProbe.periodSeconds * container.startupProbe.failureThreshold,
    ).toBeGreaterThanOrEqual(60);
  });

  it('takes connection strings from Secrets and names each replica by its pod', () => {
    const env = Object.fromEntries(container.env.map((e: { name: string }) => [e.name, e]));
    expect(env.DATABASE_URL.valueFrom.secretKeyRef).toEqual({ name: 'gateway-db', key: 'url' });
    expect(env.REDIS_URL.valueFrom.secretKeyRef).toEqual({ name: 'gateway-redis', key: 'url' });
    expect(env.POD_NAME.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(env.GATEWAY_RATE_LIMIT_RPM.value).toBe('600');
  });

  it('is scraped by a ServiceMonitor on the admin port, which only monitoring and the operator reach', () => {
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor');
    const service = objects.find((o) => o.kind === 'Service');
    expect(monitor.spec.endpoints).toEqual([{ port: 'admin', path: '/metrics', interval: '30s' }]);
    expect(monitor.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(service.spec.ports).toMatchObject([
      { name: 'http', port: 8083 },
      { name: 'admin', port: 9083 },
    ]);
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    expect(env.ADMIN_PORT).toBe('9083');
    const policy = objects.find((o) => o.kind === 'NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(service.spec.selector);
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: 8083, protocol: 'TCP' }] },
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'novapos-system' } } },
        ],
        ports: [{ port: 9083, protocol: 'TCP' }],
      },
    ]);
  });

  it("admits the kubelet's probes to the admin port from the nodes' addresses only, never from everywhere", () => {
    const policy = synth({ probeSourceCidrs: ['10.0.16.0/20'] }).find((o) => o.kind === 'NetworkPolicy');
    expect(policy.spec.ingress.at(-1)).toEqual({
      from: [{ ipBlock: { cidr: '10.0.16.0/20' } }],
      ports: [{ port: 9083, protocol: 'TCP' }],
    });
    expect(() => synth({ probeSourceCidrs: ['0.0.0.0/0'] })).toThrow(/narrower than \/0/);
  });

  it('refuses two sources for REDIS_URL', () => {
    expect(() => synth({ redisUrl: 'redis://redis:6379/0' })).toThrow(/redisUrl or redisUrlSecret/);
  });
});
