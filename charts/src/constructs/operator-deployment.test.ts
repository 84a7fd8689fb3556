import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../../operator/src/config.js';
import { OperatorChart } from '../operator-chart.js';
import { CONNECTIONS_FILE, OperatorDeployment } from './operator-deployment.js';
import { synthConstruct, testApp } from './test-app.test-support.js';

type EnvVar = { name: string; value?: string };
type Pod = {
  containers: { env: EnvVar[]; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  volumes: {
    name: string;
    secret?: {
      secretName: string;
      optional?: boolean;
      defaultMode?: number;
      items?: { key: string; path: string }[];
    };
  }[];
  securityContext: { fsGroup?: number };
};

function pod(props: Partial<ConstructorParameters<typeof OperatorDeployment>[2]> = {}): Pod {
  const d = synthConstruct(OperatorDeployment, 'op', {
    name: 'novapos-operator',
    namespace: 'novapos-system',
    serviceAccountName: 'novapos-operator',
    image: 'ghcr.io/novapos/security-operator:0.1.0',
    ...props,
  }).find((o) => o.kind === 'Deployment');
  return d.spec.template.spec as Pod;
}

const envOf = (p: Pod) => p.containers[0]!.env;
const value = (p: Pod, name: string) => envOf(p).find((e) => e.name === name)?.value;

describe('OperatorDeployment: the connections file from a Secret', () => {
  it('mounts the named Secret read-only, optional, group-readable, at the path OPERATOR_CONNECTIONS_FILE names', () => {
    const p = pod({ connectionsSecret: { name: 'ops-connections', key: 'prod.yaml' } });
    const volume = p.volumes.find((v) => v.name === 'connections');
    expect(volume?.secret).toEqual({
      secretName: 'ops-connections',
      optional: true,
      defaultMode: 0o440,
      items: [{ key: 'prod.yaml', path: 'connections.yaml' }],
    });
    const mount = p.containers[0]!.volumeMounts.find((m) => m.name === 'connections');
    expect(mount).toEqual({ name: 'connections', mountPath: '/etc/novapos/connections', readOnly: true });
    // The file the operator reads is the one the kubelet writes: the mount plus the item's path.
    expect(value(p, 'OPERATOR_CONNECTIONS_FILE')).toBe(
      path.posix.join(mount!.mountPath, volume!.secret!.items![0]!.path),
    );
    expect(value(p, 'OPERATOR_CONNECTIONS_FILE')).toBe(CONNECTIONS_FILE);
    expect(value(p, 'OPERATOR_CONNECTIONS_FILE_OPTIONAL')).toBe('true');
    // Readable by the non-root user through the pod's fsGroup (0440: owner root, group fsGroup).
    expect(p.securityContext.fsGroup).toBe(10001);
    // The key defaults to connections.yaml.
    expect(
      pod({ connectionsSecret: { name: 'c' } }).volumes.find((v) => v.name === 'connections')?.secret?.items,
    ).toEqual([{ key: 'connections.yaml', path: 'connections.yaml' }]);
  });

  it('holds no secret value: the Secret is referenced, its data never in the manifest', () => {
    const p = pod({ connectionsSecret: { name: 'ops-connections' } });
    expect(JSON.stringify(p)).not.toMatch(/stringData|"data"/);
  });

  it('without connectionsSecret: neither the volume nor the variables', () => {
    const p = pod();
    expect(p.volumes.map((v) => v.name)).not.toContain('connections');
    expect(envOf(p).map((e) => e.name)).not.toContain('OPERATOR_CONNECTIONS_FILE');
  });

  it("the operator's configuration accepts the pod's environment with the Secret absent and reads it present", () => {
    const env = (p: Pod) =>
      Object.fromEntries(
        envOf(p)
          .filter((e) => e.value !== undefined)
          .map((e) => [e.name, e.value as string]),
      );
    const p = pod({ connectionsSecret: { name: 'c' }, vaultAddress: 'http://vault.vault.svc:8200' });
    // No Secret: the kubelet mounts an empty directory; the operator starts and says so.
    const absent = configFromEnv({ ...env(p), OPERATOR_CONNECTIONS_FILE: '/nonexistent/connections.yaml' });
    expect(absent.connectionsFileAbsent).toBe(true);
    expect(absent.connections.size).toBe(0);
    // With it: the file as a user writes it into the Secret.
    const dir = mkdtempSync(path.join(tmpdir(), 'op-connections-'));
    const file = path.join(dir, 'connections.yaml');
    writeFileSync(
      file,
      [
        'connections:',
        '  local:',
        '    auth: { method: kubernetes, role: novapos-operator-promotion }',
        '    promotion: { source: true, namespaces: [novapos] }',
        '  staging:',
        '    address: http://vault-staging.vault.svc:8200',
        '    auth: { method: kubernetes, role: novapos-operator-promotion }',
        '    promotion: { target: true, protected: true, namespaces: [novapos] }',
        '',
      ].join('\n'),
    );
    const present = configFromEnv({ ...env(p), OPERATOR_CONNECTIONS_FILE: file });
    expect(present.connectionsFileAbsent).toBe(false);
    expect([...present.connections.keys()]).toEqual(['local', 'staging']);
  });
});

describe('OperatorChart: the connections Secret', () => {
  const synth = (props: Partial<ConstructorParameters<typeof OperatorChart>[2]> = {}) => {
    const app = testApp();
    const chart = new OperatorChart(app, 'op', {
      crdDir: path.join(tmpdir(), 'no-crds-here'),
      ...props,
    });
    // biome-ignore lint/suspicious/noExplicitAny: synthesized manifests are untyped JSON
    const objs = Testing.synth(chart) as any[];
    return {
      volume: objs
        .find((o) => o.kind === 'Deployment')
        .spec.template.spec.volumes.find((v: { name: string }) => v.name === 'connections'),
      secrets: objs.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name as string),
    };
  };

  it('mounts <name>-connections by default, and ships no such Secret (the user or External Secrets makes it)', () => {
    const { volume, secrets } = synth();
    expect(volume.secret.secretName).toBe('novapos-operator-connections');
    expect(secrets).not.toContain('novapos-operator-connections');
  });

  it('takes another Secret and key, or none', () => {
    expect(
      synth({ connections: { secretName: 'vso-connections', key: 'file' } }).volume.secret,
    ).toMatchObject({
      secretName: 'vso-connections',
      items: [{ key: 'file', path: 'connections.yaml' }],
    });
    expect(synth({ connections: false }).volume).toBeUndefined();
  });
});
