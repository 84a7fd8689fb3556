import { describe, expect, it } from 'vitest';
import { AuthService } from './auth-service.js';
import { type Manifest, synthConstruct } from './test-app.test-support.js';

function synth(props: Partial<ConstructorParameters<typeof AuthService>[2]> = {}) {
  return synthConstruct(AuthService, 'auth', {
    namespace: 'novapos',
    image: 'ghcr.io/novapos/auth-service:0.1.0',
    vaultAddress: 'https://vault.internal:8200',
    signingKeysetPath: 'secret/novapos/signing-keys/novapos/auth-issuer',
    ...props,
  }) as { kind: string; spec: Record<string, Manifest>; metadata: { name: string } }[];
}

describe('AuthService construct', () => {
  it('synthesizes a ServiceAccount, Deployment, Service and ServiceMonitor', () => {
    expect(synth().map((o) => o.kind)).toEqual(['ServiceAccount', 'Deployment', 'Service', 'ServiceMonitor']);
  });

  it('runs non-root on the runbook port with probes, Vault Kubernetes auth and no secret values', () => {
    const deployment = synth({ webhookSecretName: 'auth-webhook' }).find((o) => o.kind === 'Deployment')!;
    const pod = deployment.spec['template'].spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8085, protocol: 'TCP' },
      { name: 'admin', containerPort: 9085, protocol: 'TCP' },
    ]);
    // docs/contracts.md "Health": the probes' paths on the admin listener.
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(env).toMatchObject({
      PORT: '8085',
      ADMIN_PORT: '9085',
      // The first-admin bootstrap route is off unless a bootstrap-token Secret is given.
      ALLOW_REGISTER_FIRST: 'false',
      VAULT_AUTH_METHOD: 'kubernetes',
      VAULT_K8S_ROLE: 'auth-service',
    });
    expect(env['DATABASE_URL']).toEqual({
      secretKeyRef: { name: 'auth-service-database', key: 'DATABASE_URL' },
    });
    expect(env['SECURITY_SUSPICIOUS_WEBHOOK_BEARER']).toEqual({
      secretKeyRef: { name: 'auth-webhook', key: 'SECURITY_SUSPICIOUS_WEBHOOK_BEARER' },
    });
  });

  it('scrapes /metrics on the admin port through the ServiceMonitor, never on the API port', () => {
    const objs = synth({ scrapeInterval: '15s' });
    const sm = objs.find((o) => o.kind === 'ServiceMonitor')!;
    expect(sm.spec['endpoints']).toEqual([{ port: 'admin', path: '/metrics', interval: '15s' }]);
    const svc = objs.find((o) => o.kind === 'Service')!;
    expect(svc.spec['ports'].map((p: { name: string; port: number }) => [p.name, p.port])).toEqual([
      ['http', 8085],
      ['admin', 9085],
    ]);
  });

  it('enables register-first only with a bootstrap-token Secret, read from a file', () => {
    const d = synth({ bootstrapTokenSecretName: 'auth-bootstrap' }).find((o) => o.kind === 'Deployment')!;
    const pod = d.spec['template'].spec;
    const env = Object.fromEntries(
      pod.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    expect(env['ALLOW_REGISTER_FIRST']).toBe('true');
    expect(env['AUTH_BOOTSTRAP_TOKEN_FILE']).toBe('/var/run/secrets/novapos/bootstrap/AUTH_BOOTSTRAP_TOKEN');
    // Only the token's key is mounted, read-only: another key of the Secret stays out of the pod.
    expect(pod.volumes).toContainEqual({
      name: 'bootstrap-token',
      secret: {
        secretName: 'auth-bootstrap',
        items: [{ key: 'AUTH_BOOTSTRAP_TOKEN', path: 'AUTH_BOOTSTRAP_TOKEN' }],
      },
    });
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'bootstrap-token',
      mountPath: '/var/run/secrets/novapos/bootstrap',
      readOnly: true,
    });
  });
});
