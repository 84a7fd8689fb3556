import {
  ApiException,
  type ConfigurationOptions,
  KubeConfig,
  type KubernetesObject,
  type ObservableMiddleware,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';

/** What the runtime needs to know to list, watch and patch one kind. */
export interface ResourceKind {
  /** API group; `''` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Lower-case plural used in URLs (`signingkeyrotations`). */
  readonly plural: string;
  readonly namespaced: boolean;
}

export function apiVersionOf(kind: ResourceKind): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}

/** The URL path of a kind's collection, optionally in one namespace (`/apis/g/v/namespaces/ns/plural`). */
export function collectionPath(kind: ResourceKind, namespace?: string): string {
  const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  return namespace && kind.namespaced
    ? `${base}/namespaces/${namespace}/${kind.plural}`
    : `${base}/${kind.plural}`;
}

/** The work-queue key of an object: `namespace/name`, or `name` for cluster-scoped objects. */
export function keyOf(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * client-node 1.x sends PATCH as JSON-Patch unless told otherwise; every patch in the runtime names its
 * content type through these options.
 */
export const mergePatch: ConfigurationOptions<ObservableMiddleware> = setHeaderOptions(
  'Content-Type',
  PatchStrategy.MergePatch,
);
export const jsonPatch: ConfigurationOptions<ObservableMiddleware> = setHeaderOptions(
  'Content-Type',
  PatchStrategy.JsonPatch,
);
export const serverSideApply: ConfigurationOptions<ObservableMiddleware> = setHeaderOptions(
  'Content-Type',
  PatchStrategy.ServerSideApply,
);

export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (e && typeof e.statusCode === 'number') return e.statusCode;
  if (e && typeof e.code === 'number') return e.code;
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusCodeOf(err) === 409;
export const isGone = (err: unknown): boolean => statusCodeOf(err) === 410;

export { describeError } from '../../../lib/errors.js';

/** KUBECONFIG (or ~/.kube/config) when set, else the in-cluster service account. */
export function loadKubeConfig(env: Readonly<Record<string, string | undefined>> = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (env.KUBECONFIG) kc.loadFromFile(env.KUBECONFIG);
  else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
