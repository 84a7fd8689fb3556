import { createHash } from 'node:crypto';
import {
  type ApiConstructor,
  ApiException,
  type ApiType,
  type ConfigurationOptions,
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  type KubernetesObject,
  type ObservableMiddleware,
  PatchStrategy,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
  setHeaderOptions,
  wrapHttpLibrary,
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

/** How API clients answer the apiserver's "too many requests" (priority and fairness, max-in-flight). */
export interface ThrottlePolicy {
  /** Retries of one request after a 429 (or a 5xx with Retry-After) before the error reaches the caller. Default 10, as client-go. */
  readonly maxRetries: number;
  /** Cap on one wait; Retry-After asks in whole seconds. Default 30 s. */
  readonly maxWaitMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = { maxRetries: 10, maxWaitMs: 30_000 };

/** Observes every throttled answer (for novapos_operator_kube_throttled_total). */
export type ThrottleListener = (event: { status: number; waitMs: number; retried: boolean }) => void;

/**
 * The wait a throttled answer asks for, or undefined when the answer is final. As client-go: a 429, or a
 * 5xx that carries Retry-After, means the apiserver did not process the request, so it is safe to send again
 * whatever the verb. Retry-After is in seconds (the apiserver sends 1 under max-in-flight, more under APF);
 * a 429 without it waits 1 s.
 */
export function throttleWaitMs(
  status: number,
  retryAfter: string | undefined,
  maxWaitMs: number,
): number | undefined {
  const header = retryAfter?.trim();
  const seconds = header && /^\d+$/.test(header) ? Number(header) : undefined;
  if (status === 429) return Math.min(maxWaitMs, (seconds ?? 1) * 1000);
  if (status >= 500 && seconds !== undefined) return Math.min(maxWaitMs, seconds * 1000);
  return undefined;
}

/**
 * A KubeConfig whose API clients honour the apiserver's throttling: a request answered 429 (or 5xx with
 * Retry-After) is sent again after the wait the server asked for, up to `maxRetries` times. There is no
 * client-side request cap: the apiserver's priority and fairness decides how fast this client may go, as
 * controller-runtime leaves it. Watches (client-node's Watch) are long-running requests the limits exempt.
 */
export class ThrottleAwareKubeConfig extends KubeConfig {
  throttle: ThrottlePolicy = DEFAULT_THROTTLE;
  private readonly listeners: ThrottleListener[] = [];
  private readonly dispatchers = new Map<string, { tls: string; dispatcher: unknown }>();

  constructor() {
    super();
    // client-node 2.0 builds a new undici Agent for every request (KubeConfig.createDispatcher, called from
    // applySecurityAuthentication): no connection is ever reused, each request pays a TCP + TLS handshake and
    // a fresh SecureContext (the benchmark's CPU profile: a third of the operator's time). One Agent per
    // server and TLS material keeps connections alive; new TLS material (a rotated client certificate or CA)
    // gets a new Agent and the old one is closed.
    const self = this as unknown as {
      createDispatcher(cluster: { server?: string } | null, agentOptions: Record<string, unknown>): unknown;
    };
    const build = self.createDispatcher.bind(this);
    self.createDispatcher = (cluster, agentOptions) => {
      const server = cluster?.server ?? '';
      const tls = tlsFingerprint(agentOptions);
      const known = this.dispatchers.get(server);
      if (known && known.tls === tls) return known.dispatcher;
      const dispatcher = build(cluster, agentOptions);
      if (known)
        void (known.dispatcher as { close?: () => Promise<void> } | undefined)?.close?.().catch(() => {});
      this.dispatchers.set(server, { tls, dispatcher });
      return dispatcher;
    };
  }

  onThrottled(listener: ThrottleListener): void {
    this.listeners.push(listener);
  }

  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    const inner = new IsomorphicFetchHttpLibrary();
    const send = async (request: RequestContext): Promise<ResponseContext> => {
      for (let attempt = 1; ; attempt++) {
        const response = await inner.send(request).toPromise();
        const { maxRetries, maxWaitMs } = this.throttle;
        const wait = throttleWaitMs(response.httpStatusCode, response.headers['retry-after'], maxWaitMs);
        if (wait === undefined) return response;
        const retried = attempt <= maxRetries;
        for (const l of this.listeners) l({ status: response.httpStatusCode, waitMs: wait, retried });
        if (!retried) return response;
        await response.body.text().catch(() => '');
        // Up to 10 % more, so the clients the server turned away together do not return together.
        await sleep(wait * (1 + Math.random() * 0.1), request.getSignal());
      }
    };
    const config = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: this },
      httpApi: wrapHttpLibrary({ send }),
      middleware: [],
    });
    return new apiClientType(config);
  }
}

/** What distinguishes one TLS setup from another: CA, client certificate and key, verification, SNI name. */
function tlsFingerprint(o: Record<string, unknown>): string {
  const h = createHash('sha256');
  for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
    const v = o[k];
    h.update(`${k}=`);
    if (v === undefined || v === null) h.update('-');
    else if (Buffer.isBuffer(v) || typeof v === 'string') h.update(v);
    else h.update(JSON.stringify(v));
    h.update('\u0000');
  }
  return h.digest('hex');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** KUBECONFIG (or ~/.kube/config) when set, else the in-cluster service account; API clients honour 429. */
export function loadKubeConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  throttle: ThrottlePolicy = DEFAULT_THROTTLE,
): ThrottleAwareKubeConfig {
  const kc = new ThrottleAwareKubeConfig();
  kc.throttle = throttle;
  if (env.KUBECONFIG) kc.loadFromFile(env.KUBECONFIG);
  else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
