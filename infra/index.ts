import * as pulumi from '@pulumi/pulumi';
import { alertmanagerConfig } from '../alerts/alertmanager/config.js';
import { AlertmanagerConfigError } from './alertmanager-config.js';
import { CONFIG_NAMESPACE, loadStackConfig, StackConfigError } from './config.js';
import { REPO_ROOT, readSources, SourceFileError } from './sources.js';
import { createStack, readSecrets } from './stack.js';

// The Pulumi program (Pulumi.yaml `main: infra/`): one program, one stack per environment. Wiring only:
// validate the config first (a wrong value stops here with one message listing every problem), then read
// the project's rendered files, then declare the resources.

/** A user-facing error (config, source files) ends the run with its message alone, no stack trace. */
function userError(err: unknown): never {
  if (
    err instanceof StackConfigError ||
    err instanceof SourceFileError ||
    err instanceof AlertmanagerConfigError
  ) {
    throw new pulumi.RunError(err.message);
  }
  throw err;
}

const config = new pulumi.Config(CONFIG_NAMESPACE);
const presentKeys = Object.keys(pulumi.runtime.allConfig())
  .filter((key) => key.startsWith(`${CONFIG_NAMESPACE}:`))
  .map((key) => key.slice(CONFIG_NAMESPACE.length + 1));

const out = await (async () => {
  const cfg = loadStackConfig(config, presentKeys);
  const secrets = readSecrets(config, cfg);
  const sources = readSources(REPO_ROOT);
  return createStack({ cfg, secrets, sources, alertmanagerConfig });
})().catch(userError);

export const environment = out.environment;
export const monitoringNamespace = out.monitoringNamespace;
export const prometheus = out.prometheus;
export const alertmanager = out.alertmanager;
export const paging = out.paging;
export const crds = out.crds;
export const charts = out.charts;
export const dashboards = out.dashboards;
export const prometheusRules = out.prometheusRules;
export const pagerdutyServices = out.pagerdutyServices;
export const pagerdutyRoutingKeys = out.pagerdutyRoutingKeys;
