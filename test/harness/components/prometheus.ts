import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

export interface PrometheusOptions {
  /** Static scrape targets: job name → `host:port` list. */
  readonly scrape?: Readonly<Record<string, readonly string[]>>;
  /** Rule files (absolute paths) to load. */
  readonly ruleFiles?: readonly string[];
  /** Alertmanager URL(s) to send alerts to. */
  readonly alertmanagers?: readonly string[];
  /** Default 1s: tests want fresh samples quickly. */
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
}

export interface PrometheusInstance {
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  readonly process: ManagedProcess;
  /** Instant query; returns the `data.result` array. */
  query(promql: string): Promise<PromResult[]>;
}

export interface PromResult {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/-/ready`)).ok;
  } catch {
    return false;
  }
}

export function prometheusConfig(opts: PrometheusOptions): Record<string, unknown> {
  const alertTargets = (opts.alertmanagers ?? []).map((u) => new URL(u).host);
  return {
    global: {
      scrape_interval: opts.scrapeInterval ?? '1s',
      evaluation_interval: opts.evaluationInterval ?? '1s',
    },
    rule_files: opts.ruleFiles ?? [],
    alerting: alertTargets.length
      ? { alertmanagers: [{ static_configs: [{ targets: alertTargets }] }] }
      : undefined,
    scrape_configs: Object.entries(opts.scrape ?? {}).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
}

export async function startPrometheus(
  dir: string,
  opts: PrometheusOptions = {},
): Promise<PrometheusInstance> {
  const home = path.join(dir, 'prometheus');
  mkdirSync(path.join(home, 'data'), { recursive: true });
  const configFile = path.join(home, 'prometheus.yml');
  writeFileSync(configFile, stringify(prometheusConfig(opts)));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = await ManagedProcess.start(
    {
      name: 'prometheus',
      command: 'prometheus',
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(home, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
        '--log.level=warn',
      ],
      ready: () => ready(url),
    },
    path.join(dir, 'logs'),
  );
  return {
    url,
    port,
    configFile,
    process: proc,
    async query(promql: string) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: PromResult[] } };
      if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error}`);
      return body.data?.result ?? [];
    },
  };
}

/** Rewrites the configuration and asks Prometheus to reload it. */
export async function reloadPrometheus(instance: PrometheusInstance, opts: PrometheusOptions): Promise<void> {
  writeFileSync(instance.configFile, stringify(prometheusConfig(opts)));
  const res = await fetch(`${instance.url}/-/reload`, { method: 'POST' });
  if (!res.ok) throw new Error(`prometheus reload: ${res.status} ${await res.text()}`);
}
