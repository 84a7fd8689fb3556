import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, readSources, type Sources } from './sources.js';
import {
  isSecretAt,
  type RecordedResource,
  runStackWithMocks,
  type StackRun,
  stackFile,
  stackFileConfig,
  TEST_SECRETS,
} from './testing/mock-stack.js';

/**
 * The resource graph of each stack under Pulumi's runtime mocks: everything the project renders is deployed,
 * secrets stay secrets, and dev, staging and prod differ only where their config differs.
 */

const sources: Sources = readSources(REPO_ROOT);

/** The drill webhook's bearer token, a required secret. */
const DRILL_TOKEN = TEST_SECRETS['novapos:drillWebhookToken']!;
const SECRETS = TEST_SECRETS;
/** Where the Alertmanager pods see the token: the Secret novapos-drill-webhook mounted through spec.secrets. */
const DRILL_TOKEN_FILE = '/etc/alertmanager/secrets/novapos-drill-webhook/token';

/** The committed stack file, with features.charts off when the charts have not been synthesized yet. */
function configOf(stack: string): Record<string, string> {
  const config = stackFileConfig(stackFile(stack));
  if (sources.charts.length === 0) {
    const features = JSON.parse(config['novapos:features'] ?? '{}');
    config['novapos:features'] = JSON.stringify({ ...features, charts: false });
  }
  return config;
}

const byKind = (run: StackRun, kind: string) => run.resources.filter((r) => r.inputs['kind'] === kind);
const named = (run: StackRun, kind: string, name: string): RecordedResource => {
  const found = byKind(run, kind).find((r) => (r.inputs['metadata'] as { name: string }).name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};
const meta = (r: RecordedResource) =>
  r.inputs['metadata'] as { name: string; namespace?: string; annotations?: Record<string, string> };

/** Runs are sequential: the mocks are process-wide state. */
const runs: Record<string, StackRun> = {};

beforeAll(async () => {
  if (sources.charts.length === 0) {
    console.warn(
      'charts/dist/*.yaml not synthesized yet: the stacks are checked with novapos:features.charts=false',
    );
  }
  for (const stack of ['dev', 'staging', 'prod']) {
    runs[stack] = await runStackWithMocks({ stack, config: configOf(stack), sources, secrets: SECRETS });
  }
}, 60_000);

describe.each(['dev', 'staging', 'prod'])('the %s stack', (stack) => {
  const run = () => runs[stack] as StackRun;

  it('provisions every dashboard in dashboards/*.json as a ConfigMap with the Grafana sidecar label', () => {
    expect(sources.dashboards.length).toBeGreaterThan(0);
    for (const d of sources.dashboards) {
      const map = named(run(), 'ConfigMap', `grafana-dashboard-${d.name}`);
      expect((map.inputs['metadata'] as { labels: Record<string, string> }).labels['grafana_dashboard']).toBe(
        '1',
      );
      expect(
        JSON.parse((map.inputs['data'] as Record<string, string>)[`${d.name}.json`] ?? ''),
      ).toMatchObject({ uid: d.uid });
    }
    const projected = JSON.stringify(named(run(), 'Deployment', 'grafana').inputs);
    for (const d of sources.dashboards) expect(projected).toContain(`grafana-dashboard-${d.name}`);
  });

  it('deploys every alert rule of alerts/*.rules.yaml in a PrometheusRule Prometheus selects', () => {
    expect(sources.rules.length).toBeGreaterThan(0);
    const prometheus = named(run(), 'Prometheus', 'novapos');
    const selector = (prometheus.inputs['spec'] as { ruleSelector: { matchLabels: Record<string, string> } })
      .ruleSelector;
    const deployed = new Set<string>();
    for (const rule of byKind(run(), 'PrometheusRule')) {
      const labels = (rule.inputs['metadata'] as { labels: Record<string, string> }).labels;
      expect(labels).toMatchObject(selector.matchLabels);
      for (const g of (rule.inputs['spec'] as { groups: { rules: { alert?: string; record?: string }[] }[] })
        .groups) {
        for (const r of g.rules) deployed.add(r.alert ?? r.record ?? '');
      }
    }
    const expected = sources.rules.flatMap((f) =>
      f.groups.flatMap((g) => g.rules.map((r) => String(r['alert'] ?? r['record']))),
    );
    expect([...deployed].sort()).toEqual([...new Set(expected)].sort());
  });

  it('scrapes auth-service on 9085, integration-gateway on 9083 and the audit-service on 9087 (admin ports), and the operator on 8080, once each', () => {
    const prometheus = named(run(), 'Prometheus', 'novapos').inputs['spec'] as {
      serviceMonitorSelector: { matchExpressions: { key: string; values: string[] }[] };
    };
    const [expr] = prometheus.serviceMonitorSelector.matchExpressions;
    const monitors = byKind(run(), 'ServiceMonitor');
    const ports: Record<string, number[]> = {};
    for (const m of monitors) {
      const labels = (m.inputs['metadata'] as { labels: Record<string, string> }).labels;
      expect(expr?.values, `${meta(m).name} is selected by Prometheus`).toContain(labels[expr?.key ?? '']);
      const spec = m.inputs['spec'] as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { targetPort?: number; port?: string }[];
      };
      const target = spec.selector.matchLabels['app.kubernetes.io/name'] ?? '';
      for (const e of spec.endpoints) {
        // A named port (the charts' monitors): resolve it on the Service the monitor selects.
        const port =
          e.targetPort ??
          byKind(run(), 'Service')
            .filter((svc) =>
              Object.entries(spec.selector.matchLabels).every(
                ([k, v]) => (svc.inputs['metadata'] as { labels?: Record<string, string> }).labels?.[k] === v,
              ),
            )
            .flatMap((svc) => (svc.inputs['spec'] as { ports: { name: string; port: number }[] }).ports)
            .find((p) => p.name === e.port)?.port;
        ports[target] = [...(ports[target] ?? []), port ?? -1];
      }
    }
    const expected: Record<string, number[]> = {
      'auth-service': [9085],
      // The services' charts scrape their admin listeners (docs/contracts.md, "Ports").
      'integration-gateway': [9083],
      'audit-service': [9087],
      'novapos-operator': [8080],
    };
    expect(ports).toEqual(expected);
  });

  it('puts the Alertmanager config in the Secret alertmanager-novapos, with no secret value in it', () => {
    const secret = named(run(), 'Secret', 'alertmanager-novapos');
    const yaml = (secret.inputs['stringData'] as Record<string, string>)['alertmanager.yaml'] ?? '';
    expect(yaml).toContain('api_url_file');
    if (run().cfg.alerting.pageOnCritical) expect(yaml).toContain('routing_key_file');
    for (const value of run().secretValues) expect(yaml).not.toContain(value);
  });

  it('gives the drill receiver the bearer token by file, the Secret novapos-drill-webhook mounted', () => {
    const secret = named(run(), 'Secret', 'novapos-drill-webhook');
    expect(meta(secret).namespace).toBe(run().cfg.monitoringNamespace);
    expect(secret.inputs['type']).toBe('Opaque');
    expect((secret.inputs['stringData'] as Record<string, string>)['token']).toBe(DRILL_TOKEN);
    expect(isSecretAt(secret, 'stringData.token')).toBe(true);
    const spec = named(run(), 'Alertmanager', 'novapos').inputs['spec'] as { secrets: string[] };
    expect(spec.secrets).toContain('novapos-drill-webhook');

    const yaml =
      (named(run(), 'Secret', 'alertmanager-novapos').inputs['stringData'] as Record<string, string>)[
        'alertmanager.yaml'
      ] ?? '';
    expect(yaml).not.toContain(DRILL_TOKEN);
    const receivers = (parseYaml(yaml) as { receivers: { name: string; webhook_configs?: unknown[] }[] })
      .receivers;
    const drill = receivers.find((r) => r.name === 'drill');
    expect(drill?.webhook_configs).toEqual([
      expect.objectContaining({
        url: `http://novapos-operator.${run().cfg.operatorNamespace}.svc:8082/drills/alert-delivery`,
        send_resolved: true,
        http_config: { authorization: { type: 'Bearer', credentials_file: DRILL_TOKEN_FILE } },
      }),
    ]);
  });

  it('gives the operator the same token in its namespace when the charts are applied', () => {
    const operatorSecrets = byKind(run(), 'Secret').filter(
      (r) => meta(r).name === 'novapos-operator-drill-webhook',
    );
    if (!run().cfg.features.charts) {
      expect(operatorSecrets).toEqual([]);
      return;
    }
    expect(operatorSecrets).toHaveLength(1);
    const [secret] = operatorSecrets as [RecordedResource];
    expect(meta(secret).namespace).toBe(run().cfg.operatorNamespace);
    expect((secret.inputs['stringData'] as Record<string, string>)['token']).toBe(DRILL_TOKEN);
    expect(isSecretAt(secret, 'stringData.token')).toBe(true);
  });

  it('keeps every secret a Pulumi secret: Slack URLs, routing keys, the Grafana password', () => {
    const slack = named(run(), 'Secret', 'novapos-slack');
    expect(isSecretAt(slack, 'stringData.security-webhook-url')).toBe(true);
    expect(isSecretAt(slack, 'stringData.sre-webhook-url')).toBe(true);
    expect(isSecretAt(named(run(), 'Secret', 'grafana-admin'), 'stringData.admin-password')).toBe(true);
    if (run().cfg.alerting.pageOnCritical) {
      const routing = named(run(), 'Secret', 'novapos-pagerduty');
      expect(isSecretAt(routing, 'stringData.security-routing-key')).toBe(true);
      expect(isSecretAt(routing, 'stringData.platform-routing-key')).toBe(true);
      expect((routing.inputs['stringData'] as Record<string, string>)['security-routing-key']).toBe(
        'pd-routing-key-SECRET-security',
      );
    }
  });

  it('marks the routing key outputs secret', async () => {
    const keys = run().outputs.pagerdutyRoutingKeys;
    expect(keys).toBeDefined();
    if (!keys) return;
    expect(await pulumi.isSecret(keys.security)).toBe(true);
    expect(await pulumi.isSecret(keys.platform)).toBe(true);
    // The check can tell: a plain output is not secret.
    expect(await pulumi.isSecret(run().outputs.monitoringNamespace)).toBe(false);
  });

  it('never puts a secret value in a plain (non-secret) input of any resource', () => {
    for (const r of run().resources) {
      const plain = JSON.stringify(r.inputs);
      for (const value of run().secretValues) {
        if (!plain.includes(value)) continue;
        // Allowed only where the input is marked secret.
        expect(r.secretPaths.length, `${r.type} ${r.name} holds a secret value`).toBeGreaterThan(0);
        const withoutSecrets = structuredClone(r.inputs);
        for (const p of r.secretPaths) {
          const parts = p.split('.');
          let at: Record<string, unknown> = withoutSecrets;
          for (const part of parts.slice(0, -1)) at = at[part] as Record<string, unknown>;
          delete at[parts.at(-1) ?? ''];
        }
        expect(JSON.stringify(withoutSecrets), `${r.type} ${r.name}`).not.toContain(value);
      }
    }
  });

  it('creates a PagerDuty service, escalation policy and Events v2 integration per team', () => {
    const types = (t: string) =>
      run()
        .resources.filter((r) => r.type === `pagerduty:index/${t}`)
        .map((r) => r.name);
    expect(types('service:Service').sort()).toEqual(['platform', 'security']);
    expect(types('escalationPolicy:EscalationPolicy').sort()).toEqual(['platform', 'security']);
    const integrations = run().resources.filter(
      (r) => r.type === 'pagerduty:index/serviceIntegration:ServiceIntegration',
    );
    expect(integrations.map((i) => i.inputs['vendor'])).toEqual(['PVENDOR-EVENTS-V2', 'PVENDOR-EVENTS-V2']);
  });

  it('annotates Kubernetes resources with skipAwait exactly when the stack says so', () => {
    const skip = run().cfg.skipAwait;
    for (const r of run().resources.filter((x) => x.type.startsWith('kubernetes:') && x.inputs['metadata'])) {
      expect(meta(r).annotations?.['pulumi.com/skipAwait'], `${r.type} ${r.name}`).toBe(
        skip ? 'true' : undefined,
      );
    }
  });

  it('applies every operator CRD from crds/ exactly once (the charts carry copies)', () => {
    const crds = byKind(run(), 'CustomResourceDefinition').map((c) => meta(c).name);
    const expected = sources.crds.flatMap((f) => f.objects.map((o) => o.metadata.name));
    expect(crds.sort()).toEqual(expected.sort());
  });
});

/** The graph as a comparable map: `type name` → inputs. */
function graph(run: StackRun): Map<string, unknown> {
  return new Map(
    run.resources
      .filter((r) => r.type !== 'pulumi:pulumi:Stack') // named after the stack, has no inputs
      .map((r) => [`${r.type} ${r.name}`, { inputs: r.inputs, secret: r.secretPaths }]),
  );
}

/** Paths where two values differ (`spec.replicas`). */
function diff(a: unknown, b: unknown, at = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => diff(x, b[i], `${at}.${i}`));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k),
    );
  }
  return [at];
}

describe('differences between environments', () => {
  it('come from config alone: the dev stack run with the prod config is the prod graph', async () => {
    const devWithProdConfig = graph(
      await runStackWithMocks({ stack: 'dev', config: configOf('prod'), sources, secrets: SECRETS }),
    );
    const prod = graph(runs['prod'] as StackRun);
    for (const key of new Set([...devWithProdConfig.keys(), ...prod.keys()])) {
      expect(diff(devWithProdConfig.get(key), prod.get(key)), key).toEqual([]);
    }
  });

  it('between dev and prod are exactly the configured ones', () => {
    const dev = graph(runs['dev'] as StackRun);
    const prod = graph(runs['prod'] as StackRun);
    const changed = new Map<string, string[]>();
    for (const key of new Set([...dev.keys(), ...prod.keys()])) {
      const paths = diff(dev.get(key), prod.get(key));
      if (paths.length > 0) changed.set(key, paths);
    }
    const at = (key: string) => changed.get(key) ?? [];
    // Scale and retention.
    expect(at('kubernetes:monitoring.coreos.com/v1:Prometheus prometheus')).toEqual(
      expect.arrayContaining([
        'inputs.spec.replicas',
        'inputs.spec.retention',
        'inputs.spec.storage',
        'inputs.spec.scrapeInterval',
      ]),
    );
    expect(at('kubernetes:monitoring.coreos.com/v1:Alertmanager alertmanager')).toContain(
      'inputs.spec.replicas',
    );
    // Paging: prod pages per team, dev sends critical alerts to Slack.
    expect(at('kubernetes:core/v1:Secret alertmanager-config')).toContain(
      'inputs.stringData.alertmanager.yaml',
    );
    expect(changed.has('kubernetes:core/v1:Secret pagerduty-routing-keys')).toBe(true);
    expect(dev.has('kubernetes:core/v1:Secret pagerduty-routing-keys')).toBe(false);
    // PagerDuty escalation and schedules.
    expect(at('pagerduty:index/escalationPolicy:EscalationPolicy security')).toEqual(
      expect.arrayContaining(['inputs.numLoops', 'inputs.name']),
    );
    expect(prod.has('pagerduty:index/schedule:Schedule security')).toBe(true);
    expect(dev.has('pagerduty:index/schedule:Schedule security')).toBe(false);
    // Every other difference is one of these configured values.
    const configured = [
      /metadata\.annotations\.pulumi\.com\/(skipAwait|deletionPropagationPolicy)$|metadata\.annotations$|^inputs\.transformations/, // skipAwait
      /metadata\.namespace$|\.namespace$|namespaceSelector|metadata\.name$/, // monitoringNamespace, appNamespaces
      /spec\.(replicas|retention|storage|scrapeInterval|evaluationInterval|externalLabels)/, // prometheus, alertmanager, grafana
      /spec\.endpoints/, // scrape interval
      /stringData\.alertmanager\.yaml$/, // alerting.*
      /spec\.secrets$/, // pageOnCritical: the routing-key Secret is mounted
      /stringData\.[a-z-]+-routing-key$|^inputs$/, // pagerduty / pageOnCritical: resources only in one stack
      /^inputs\.(name|numLoops|rules|teams|layers|timeZone|description)/, // pagerduty.teams.*
      /data\.datasources\.yaml$/, // Prometheus URL in the monitoring namespace
      /subjects|roleRef\.name$/, // RBAC: subject namespace; cluster-scoped names carry the monitoring namespace
    ];
    for (const [key, paths] of changed) {
      for (const p of paths.map((x) => x || 'inputs')) {
        expect(
          configured.some((re) => re.test(p)),
          `${key}: ${p} differs between dev and prod but no config value explains it`,
        ).toBe(true);
      }
    }
  });

  it('rejects a stack whose config is broken before creating anything', async () => {
    const config = {
      ...configOf('dev'),
      'novapos:prometheus': JSON.stringify({ replicas: 1, scrapeInterval: '30s' }),
    };
    await expect(runStackWithMocks({ stack: 'dev', config, sources, secrets: SECRETS })).rejects.toThrow(
      /novapos:prometheus\.retention: missing/,
    );
  });

  it('creates the operator-namespace token Secret only when features.charts is on', async () => {
    const withCharts = (charts: boolean) => {
      const config = configOf('dev');
      const features = JSON.parse(config['novapos:features'] ?? '{}');
      return { ...config, 'novapos:features': JSON.stringify({ ...features, charts }) };
    };
    const operatorSecret = (run: StackRun) =>
      byKind(run, 'Secret').filter((r) => meta(r).name === 'novapos-operator-drill-webhook');
    const off = await runStackWithMocks({
      stack: 'dev',
      config: withCharts(false),
      sources,
      secrets: SECRETS,
    });
    expect(operatorSecret(off)).toEqual([]);
    // The monitoring side is there either way.
    named(off, 'Secret', 'novapos-drill-webhook');
    if (sources.charts.length === 0) return; // charts not synthesized: features.charts cannot be on
    const on = await runStackWithMocks({ stack: 'dev', config: withCharts(true), sources, secrets: SECRETS });
    expect(operatorSecret(on).map((r) => meta(r).namespace)).toEqual([on.cfg.operatorNamespace]);
  });

  it('leaves the services chart out with features.services false, and only it', async () => {
    if (sources.charts.length === 0) return; // charts not synthesized: features.charts cannot be on
    const withServices = (services?: boolean | string[]) => {
      const config = configOf('dev');
      const features = JSON.parse(config['novapos:features'] ?? '{}');
      return {
        ...config,
        'novapos:features': JSON.stringify({
          ...features,
          charts: true,
          ...(services === undefined ? {} : { services }),
        }),
      };
    };
    const deployments = (run: StackRun) =>
      byKind(run, 'Deployment')
        .map((r) => meta(r).name)
        .sort();
    const all = await runStackWithMocks({ stack: 'dev', config: withServices(), sources, secrets: SECRETS });
    expect(deployments(all)).toEqual(
      expect.arrayContaining(['auth-service', 'integration-gateway', 'novapos-operator']),
    );
    const off = await runStackWithMocks({
      stack: 'dev',
      config: withServices(false),
      sources,
      secrets: SECRETS,
    });
    expect(deployments(off)).not.toContain('auth-service');
    expect(deployments(off)).not.toContain('integration-gateway');
    expect(deployments(off)).toContain('novapos-operator');
    // The services' Namespace stays: the operator's chart has Roles in it.
    expect(byKind(off, 'Namespace').map((r) => meta(r).name)).toContain('novapos');

    // A list applies those components only.
    const some = await runStackWithMocks({
      stack: 'dev',
      config: withServices(['auth-service', 'gateway']),
      sources,
      secrets: SECRETS,
    });
    expect(deployments(some)).toEqual(
      expect.arrayContaining(['auth-service', 'integration-gateway', 'novapos-operator']),
    );
    expect(deployments(some)).not.toContain('audit-service');
    expect(byKind(some, 'Job')).toEqual([]);
    expect(byKind(all, 'Job').length).toBeGreaterThan(0);
    expect(byKind(some, 'Namespace').map((r) => meta(r).name)).toContain('novapos');
  });

  it('refuses an unknown services component in the config, naming it', async () => {
    const config = configOf('dev');
    const features = JSON.parse(config['novapos:features'] ?? '{}');
    const err = await runStackWithMocks({
      stack: 'dev',
      config: { ...config, 'novapos:features': JSON.stringify({ ...features, services: ['payments'] }) },
      sources,
      secrets: SECRETS,
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/features/);
  });

  it('names a missing drill webhook token in the one missing-secrets error, with the Slack ones', async () => {
    const { 'novapos:slackSreWebhookUrl': _, 'novapos:drillWebhookToken': __, ...secrets } = SECRETS;
    const err = await runStackWithMocks({ stack: 'dev', config: configOf('dev'), sources, secrets }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/novapos:slackSreWebhookUrl: missing secret/);
    expect(err?.message).toMatch(/novapos:drillWebhookToken: missing secret/);
    for (const value of Object.values(SECRETS)) expect(err?.message).not.toContain(value);
  });

  it('names a missing secret', async () => {
    const { 'novapos:slackSreWebhookUrl': _, ...secrets } = SECRETS;
    await expect(
      runStackWithMocks({ stack: 'dev', config: configOf('dev'), sources, secrets }),
    ).rejects.toThrow(/novapos:slackSreWebhookUrl: missing secret/);
  });
});
