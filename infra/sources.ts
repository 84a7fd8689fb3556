import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describeError } from '../lib/errors.js';

/**
 * What the other parts of the project produce, read from the repository when the program runs:
 * dashboards/*.json (dashboards as code, rendered), alerts/*.rules.yaml (Prometheus rule files),
 * crds/*.yaml (the operator's CRDs) and charts/dist/*.yaml (the synthesized cdk8s charts).
 *
 * A missing directory or an empty one is not an error here: the caller decides (a feature that is switched
 * on and has nothing to apply is reported with a clear message). A file that exists but does not parse is an
 * error that names the file.
 */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Dashboard {
  /** File name without `.json`, e.g. `auth`: names the ConfigMap. */
  readonly name: string;
  readonly uid: string;
  readonly title: string;
  /** The dashboard JSON as rendered (provisioned verbatim). */
  readonly json: string;
}

export interface RuleFile {
  /** File name without `.rules.yaml`, e.g. `auth`: names the PrometheusRule. */
  readonly name: string;
  readonly groups: readonly { readonly name: string; readonly rules: readonly Record<string, unknown>[] }[];
}

export interface ManifestFile {
  readonly file: string;
  readonly objects: readonly KubeObject[];
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [k: string]: unknown };
  readonly [k: string]: unknown;
}

export interface Sources {
  readonly dashboards: readonly Dashboard[];
  readonly rules: readonly RuleFile[];
  readonly crds: readonly ManifestFile[];
  readonly charts: readonly ManifestFile[];
  /** One line per thing that was looked for and not found (shown as warnings). */
  readonly missing: readonly string[];
}

export class SourceFileError extends Error {
  readonly code = 'SOURCE_FILE_INVALID';
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'SourceFileError';
  }
}

function listFiles(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(dir, f));
}

function relative(root: string, file: string): string {
  return path.relative(root, file);
}

export function readDashboards(root: string): Dashboard[] {
  return listFiles(path.join(root, 'dashboards'), '.json').map((file) => {
    const json = readFileSync(file, 'utf8');
    let parsed: { uid?: unknown; title?: unknown };
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      throw new SourceFileError(relative(root, file), `not valid JSON (${describeError(err)})`);
    }
    if (typeof parsed.uid !== 'string' || typeof parsed.title !== 'string') {
      throw new SourceFileError(relative(root, file), 'a dashboard needs a string uid and title');
    }
    return { name: path.basename(file, '.json'), uid: parsed.uid, title: parsed.title, json };
  });
}

export function readRuleFiles(root: string): RuleFile[] {
  return listFiles(path.join(root, 'alerts'), '.rules.yaml').map((file) => {
    const doc = parseYaml(readFileSync(file, 'utf8')) as { groups?: unknown } | null;
    if (!doc || !Array.isArray(doc.groups) || doc.groups.length === 0) {
      throw new SourceFileError(relative(root, file), 'a rule file needs a non-empty `groups` list');
    }
    return { name: path.basename(file, '.rules.yaml'), groups: doc.groups as RuleFile['groups'] };
  });
}

export function readManifests(root: string, dir: string): ManifestFile[] {
  return [...listFiles(path.join(root, dir), '.yaml'), ...listFiles(path.join(root, dir), '.yml')].map(
    (file) => {
      const objects: KubeObject[] = [];
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        if (doc.errors.length > 0) {
          throw new SourceFileError(relative(root, file), `YAML error: ${doc.errors[0]?.message}`);
        }
        const obj = doc.toJS() as KubeObject | null;
        if (obj === null) continue; // an empty document (`---` at the end)
        if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
          throw new SourceFileError(
            relative(root, file),
            'every document needs apiVersion, kind and metadata.name',
          );
        }
        objects.push(obj);
      }
      return { file: relative(root, file), objects };
    },
  );
}

export function readSources(root: string = REPO_ROOT): Sources {
  const missing: string[] = [];
  const dashboards = readDashboards(root);
  if (dashboards.length === 0)
    missing.push('dashboards/*.json: none found (render them: npm run generate:monitoring)');
  const rules = readRuleFiles(root);
  if (rules.length === 0)
    missing.push('alerts/*.rules.yaml: none found (render them: npm run generate:monitoring)');
  const crds = readManifests(root, 'crds');
  if (crds.length === 0) missing.push('crds/*.yaml: none found (generate them: npm run generate)');
  const charts = readManifests(root, 'charts/dist');
  if (charts.length === 0) missing.push('charts/dist/*.yaml: none found (synthesize the charts first)');
  return { dashboards, rules, crds, charts, missing };
}

export const objectKey = (o: KubeObject): string =>
  `${o.apiVersion}/${o.kind}:${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * `files` without the objects that `other` already has (same apiVersion, kind, namespace and name). The charts
 * carry a copy of the CRDs in crds/; one Kubernetes object must have one owner in the stack.
 */
export function withoutObjectsIn(
  files: readonly ManifestFile[],
  other: readonly ManifestFile[],
): ManifestFile[] {
  const taken = new Set(other.flatMap((f) => f.objects.map(objectKey)));
  return files.map((f) => ({ file: f.file, objects: f.objects.filter((o) => !taken.has(objectKey(o))) }));
}

/** `app.kubernetes.io/name` of the Services the manifests already have a ServiceMonitor for. */
export function scrapedBy(files: readonly ManifestFile[]): Set<string> {
  const names = files.flatMap((f) =>
    f.objects
      .filter((o) => o.kind === 'ServiceMonitor')
      .map(
        (o) => (o['spec'] as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector,
      )
      .map((s) => s?.matchLabels?.['app.kubernetes.io/name'])
      .filter((n): n is string => typeof n === 'string'),
  );
  return new Set(names);
}

/**
 * Whether an object of the services chart is applied: all with `features.services` true or unset; only the
 * Namespace with false; with a list, the Namespace, objects of no component and the listed components'.
 */
export function appliesService(
  services: boolean | readonly string[] | undefined,
  o: { readonly kind?: string; readonly metadata?: { readonly [k: string]: unknown } },
): boolean {
  if (o.kind === 'Namespace' || services === undefined || services === true) return true;
  if (services === false) return false;
  const labels = o.metadata?.['labels'] as Record<string, string> | undefined;
  const component = labels?.['app.kubernetes.io/component'];
  return component === undefined || services.includes(component);
}

/**
 * The services chart's database-role Job and its NetworkPolicy (component `db-roles`, docs/deploying.md),
 * which `applyManifests` applies once the rest of the charts (auth-service) is ready.
 */
export function isDatabaseRoleSetup(o: {
  readonly kind?: string;
  readonly metadata?: { readonly [k: string]: unknown };
}): boolean {
  const labels = o.metadata?.['labels'] as Record<string, string> | undefined;
  return labels?.['app.kubernetes.io/component'] === 'db-roles';
}

/** The Deployments that log in to PostgreSQL as a role the database-role Job makes (docs/deploying.md). */
export function logsInAsDatabaseRole(o: {
  readonly kind?: string;
  readonly metadata?: { readonly [k: string]: unknown };
}): boolean {
  const name = o.metadata?.['name'];
  return o.kind === 'Deployment' && (name === 'integration-gateway' || name === 'audit-service');
}
