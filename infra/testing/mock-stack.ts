import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse as parseYaml } from 'yaml';
import { alertmanagerConfig } from '../../alerts/alertmanager/config.js';
import type { AlertmanagerConfigFn } from '../alertmanager-config.js';
import { CONFIG_NAMESPACE, loadStackConfig, type StackConfig } from '../config.js';
import { REPO_ROOT, readSources, type Sources } from '../sources.js';
import { createStack, readSecrets } from '../stack.js';

/**
 * Runs the program under Pulumi's runtime mocks (pulumi.runtime.setMocks) and records every resource it
 * registers, for the unit tests (the resource graph per stack) and the manifest dry-run test (every
 * Kubernetes object it would send to the apiserver).
 *
 * Secret inputs arrive in the mocks wrapped in Pulumi's secret envelope; `record` unwraps them and keeps the
 * paths that were secret, so a test can check both the value and that it stayed secret.
 */

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs with secrets unwrapped. */
  readonly inputs: Record<string, unknown>;
  /** Dotted paths of inputs that were Pulumi secrets (`stringData.routing-key`). */
  readonly secretPaths: readonly string[];
}

export interface StackRun {
  readonly resources: readonly RecordedResource[];
  readonly outputs: ReturnType<typeof createStack>;
  readonly cfg: StackConfig;
  /** Values handed in as secrets (config secrets and mock integration keys), to look for leaks. */
  readonly secretValues: readonly string[];
}

const SECRET_SIG_KEY = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

function unwrap(value: unknown, at: string, secretPaths: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => unwrap(v, `${at}[${i}]`, secretPaths));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (obj[SECRET_SIG_KEY] === SECRET_SIG) {
      secretPaths.push(at);
      return unwrap(obj['value'], at, []);
    }
    return Object.fromEntries(
      Object.entries(obj).map(([k, v]) => [k, unwrap(v, at ? `${at}.${k}` : k, secretPaths)]),
    );
  }
  return value;
}

/** The `config:` map of a Pulumi.<stack>.yaml, as the engine hands it to a program (values as strings). */
export function stackFileConfig(file: string): Record<string, string> {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(doc.config ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

export const TEST_SECRETS: Readonly<Record<string, string>> = {
  'novapos:slackSecurityWebhookUrl': 'https://hooks.slack.example/services/T000/B000/security-SECRET-a1',
  'novapos:slackSreWebhookUrl': 'https://hooks.slack.example/services/T000/B000/sre-SECRET-b2',
  'novapos:grafanaAdminPassword': 'grafana-admin-SECRET-c3',
  'pagerduty:token': 'pagerduty-api-token-SECRET-d4',
  'novapos:drillWebhookToken': 'drill-webhook-token-SECRET-e5',
};

export const mockIntegrationKey = (name: string) => `pd-routing-key-SECRET-${name}`;

export interface RunOptions {
  /** Pulumi stack name (the mocks' project is `novapos`). */
  readonly stack: string;
  /** Plain config values (`novapos:environment` → `dev`, structured ones as JSON), without secrets. */
  readonly config: Readonly<Record<string, string>>;
  readonly secrets?: Readonly<Record<string, string>>;
  readonly sources?: Sources;
  readonly alertmanagerConfig?: AlertmanagerConfigFn;
}

/** Runs the program as `pulumi preview` would, against mocks; resolves when every resource is registered. */
export async function runStackWithMocks(opts: RunOptions): Promise<StackRun> {
  const resources: RecordedResource[] = [];
  const secrets = opts.secrets ?? TEST_SECRETS;
  const integrationKeys: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const secretPaths: string[] = [];
        const inputs = unwrap(args.inputs, '', secretPaths) as Record<string, unknown>;
        resources.push({ type: args.type, name: args.name, inputs, secretPaths });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === 'pagerduty:index/serviceIntegration:ServiceIntegration') {
          const key = mockIntegrationKey(args.name);
          integrationKeys.push(key);
          state['integrationKey'] = key;
        }
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        if (args.token === 'pagerduty:index/getUser:getUser') {
          const email = String(args.inputs['email']);
          return { id: `PUSER-${email}`, email, name: email };
        }
        if (args.token === 'pagerduty:index/getVendor:getVendor')
          return { id: 'PVENDOR-EVENTS-V2', name: args.inputs['name'] };
        throw new Error(`unexpected invoke ${args.token} in the mocks`);
      },
    },
    'novapos',
    opts.stack,
    true,
  );
  pulumi.runtime.setAllConfig({ ...opts.config, ...secrets }, Object.keys(secrets));

  const sources = opts.sources ?? readSources(REPO_ROOT);
  const amConfig = opts.alertmanagerConfig ?? alertmanagerConfig;
  // Validation happens before any resource, as in the program: a bad config rejects here, nothing registered.
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const keys = Object.keys(opts.config)
    .filter((k) => k.startsWith(`${CONFIG_NAMESPACE}:`))
    .map((k) => k.slice(CONFIG_NAMESPACE.length + 1));
  const cfg = loadStackConfig(config, keys);
  const stackSecrets = readSecrets(config, cfg);
  let outputs: ReturnType<typeof createStack> | undefined;
  await pulumi.runtime.runInPulumiStack(async () => {
    outputs = createStack({ cfg, secrets: stackSecrets, sources, alertmanagerConfig: amConfig });
    return outputs;
  });
  // Let the last RPCs (the stack's own outputs) reach these mocks before another run replaces them.
  await pulumi.runtime.disconnect();
  if (!outputs) throw new Error('the program did not run');
  return { resources, outputs, cfg, secretValues: [...Object.values(secrets), ...integrationKeys] };
}

/** Whether the input at `path` (dotted) was a Pulumi secret, itself or as part of a secret parent. */
export function isSecretAt(r: RecordedResource, path: string): boolean {
  return r.secretPaths.some((p) => path === p || path.startsWith(`${p}.`));
}

export const stackFile = (stack: string) => path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);

/** A Kubernetes object as the provider would send it: the inputs of a kubernetes:* custom resource. */
export function kubernetesObjects(run: StackRun): Record<string, unknown>[] {
  return run.resources
    .filter((r) => r.type.startsWith('kubernetes:') && r.inputs['apiVersion'] && r.inputs['kind'])
    .map((r) => r.inputs);
}
