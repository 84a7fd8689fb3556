import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/sources.js';
import { stackFileConfig } from '../../infra/testing/mock-stack.js';
import { type Env, startEnv } from '../harness/env.js';
import { prometheusOperatorCrdDir } from '../harness/prometheus-operator-crds.js';
import { type PulumiStack, preparePulumiStack } from './pulumi-stack.js';

/**
 * A real `pulumi preview`, `pulumi up`, a second preview (no changes), and `pulumi destroy` of the program
 * against a private kube-apiserver, with the Pulumi CLI, a Node.js language host and the Kubernetes
 * provider built from the Go module proxy (test/bins/pulumi/build.sh), a local file backend and the
 * passphrase secrets provider (the project and its backend: ./pulumi-stack.ts).
 *
 * The stack is dev's config with a namespace of its own and `pagerduty.enabled: false`: the PagerDuty
 * provider cannot reach PagerDuty from here (and is not built). The PagerDuty resources and the routing-key
 * Secret are covered by the runtime-mock tests (infra/stack.test.ts).
 */

const SECRET_URL = 'https://hooks.slack.example/services/T0/B0/cli-test-SECRET-9f';

let env: Env;
let stack: PulumiStack;

const pulumi = (args: string[], timeoutMs?: number) => stack.pulumi(args, timeoutMs);
const kubectl = (args: string[]) => env.kube!.kubectl(args);

beforeAll(async () => {
  // Only prometheus-operator's CRDs (a prerequisite of the cluster): the stack creates the operator's own.
  env = await startEnv({ kube: { crdDirs: [prometheusOperatorCrdDir] }, label: 'infra-pulumi-cli' });
  // dev's config, in a namespace of its own, without PagerDuty; secrets through `config set --secret`.
  // Cold: the Pulumi Go builds (~15 min on 2 cores); warm: instant.
  stack = await preparePulumiStack({
    label: 'pulumi-cli',
    stack: 'local',
    kubeconfig: env.kube!.kubeconfig,
    defaultTimeoutMs: 300_000,
    config: (dev) => ({
      ...dev,
      'novapos:monitoringNamespace': 'novapos-monitoring-cli',
      'novapos:pagerduty': { ...dev['novapos:pagerduty'], enabled: false },
    }),
    secrets: {
      'novapos:slackSecurityWebhookUrl': SECRET_URL,
      'novapos:slackSreWebhookUrl': `${SECRET_URL}-sre`,
      'novapos:grafanaAdminPassword': 'cli-test-grafana-SECRET',
      // Starts with SECRET_URL: every "never printed" check below covers the token too.
      'novapos:drillWebhookToken': `${SECRET_URL}-drill-token`,
    },
  });
  expect(readFileSync(stack.stackPath, 'utf8'), 'secrets are stored encrypted').not.toContain('SECRET');
  expect(stackFileConfig(stack.stackPath)['novapos:environment']).toBe('dev');
}, 1_800_000);

afterAll(async () => {
  await env?.stop();
  stack?.remove();
});

describe('pulumi preview, up and destroy against a real apiserver', () => {
  it('previews the stack', async () => {
    const out = await pulumi(['preview', '--diff']);
    expect(out).toMatch(/kubernetes:monitoring\.coreos\.com\/v1:Prometheus/);
    expect(out).toMatch(/\+ \d+ to create/);
    expect(out).not.toContain(SECRET_URL);
  }, 600_000);

  it('creates the monitoring stack, dashboards, rules and charts with `pulumi up`', async () => {
    const out = await pulumi(['up', '--yes', '--skip-preview']);
    expect(out).toMatch(/\d+ created/);
    // The charts' Namespaces exist before anything in them is created (a parallel create fails under load).
    for (const namespace of ['novapos', 'novapos-system']) {
      const created = out.search(new RegExp(`Namespace ${namespace} created`));
      const firstInside = out.search(new RegExp(` ${namespace}/\\S+ creating`));
      expect(created, `Namespace ${namespace} created`).toBeGreaterThan(-1);
      expect(firstInside, `first object in ${namespace}`).toBeGreaterThan(created);
    }
    expect(out).not.toContain(SECRET_URL);

    const ns = 'novapos-monitoring-cli';
    await kubectl(['get', 'prometheus.monitoring.coreos.com/novapos', '-n', ns]);
    await kubectl(['get', 'alertmanager.monitoring.coreos.com/novapos', '-n', ns]);
    const amConfig = Buffer.from(
      await kubectl([
        'get',
        'secret',
        'alertmanager-novapos',
        '-n',
        ns,
        '-o',
        'jsonpath={.data.alertmanager\\.yaml}',
      ]),
      'base64',
    ).toString();
    expect(amConfig).toContain('api_url_file');
    expect(amConfig).not.toContain(SECRET_URL);
    const slack = Buffer.from(
      await kubectl([
        'get',
        'secret',
        'novapos-slack',
        '-n',
        ns,
        '-o',
        'jsonpath={.data.security-webhook-url}',
      ]),
      'base64',
    ).toString();
    expect(slack).toBe(SECRET_URL);
    const drillToken = Buffer.from(
      await kubectl(['get', 'secret', 'novapos-drill-webhook', '-n', ns, '-o', 'jsonpath={.data.token}']),
      'base64',
    ).toString();
    expect(drillToken === `${SECRET_URL}-drill-token`, 'Secret novapos-drill-webhook holds the token').toBe(
      true,
    );
    expect(amConfig).toContain('/etc/alertmanager/secrets/novapos-drill-webhook/token');

    const dashboards = readdirSync(path.join(REPO_ROOT, 'dashboards')).filter((f) => f.endsWith('.json'));
    const maps = await kubectl(['get', 'configmap', '-n', ns, '-l', 'grafana_dashboard=1', '-o', 'name']);
    expect(maps.trim().split('\n').length).toBe(dashboards.length);
    const rules = readdirSync(path.join(REPO_ROOT, 'alerts')).filter((f) => f.endsWith('.rules.yaml'));
    const prs = await kubectl(['get', 'prometheusrule', '-n', ns, '-o', 'name']);
    expect(prs.trim().split('\n').length).toBe(rules.length);
    await kubectl(['get', 'deployment/novapos-operator', '-n', 'novapos-system']);
    // The operator's side of the drill webhook token (features.charts is on in dev's config).
    await kubectl(['get', 'secret', 'novapos-operator-drill-webhook', '-n', 'novapos-system']);
    await kubectl(['get', 'crd', 'signingkeyrotations.security.novapos.io']);

    const outputs = JSON.parse(await pulumi(['stack', 'output', '--json']));
    expect(outputs.paging).toBe('slack');
    expect(outputs.monitoringNamespace).toBe(ns);

    // The state file holds secrets only encrypted.
    const state = await pulumi(['stack', 'export']);
    expect(state).not.toContain(SECRET_URL);
    expect(state).toContain('"4dabf18193072939515e22adb298388d"'); // Pulumi's secret envelope
  }, 900_000);

  it('has nothing to change on a second preview', async () => {
    await pulumi(['preview', '--expect-no-changes']);
  }, 600_000);

  it('removes everything with `pulumi destroy`', async () => {
    await pulumi(['destroy', '--yes', '--skip-preview']);
    await expect(
      kubectl(['get', 'prometheus.monitoring.coreos.com/novapos', '-n', 'novapos-monitoring-cli']),
    ).rejects.toThrow(/NotFound|not found/);
  }, 900_000);
});
