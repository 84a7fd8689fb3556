import { describeError } from '../../lib/errors.js';
import type { Session } from './session.js';

/**
 * One replica of a service, reached the way a person at a laptop can reach it: through the apiserver's
 * proxy (pods/NAME:PORT/proxy, or services/NAME:PORT/proxy when the endpoint names no pod), or, for an
 * address the plugin can reach itself (a loopback statusURL in local development), directly.
 */
export interface Replica {
  /** `pod/auth-service-7d9c` or `svc/auth-service` or the URL's origin. */
  readonly label: string;
  /** Apiserver path up to and including `/proxy`; the document's path is appended. */
  readonly proxyPath?: string;
  /** Origin read directly. */
  readonly origin?: string;
}

interface EndpointSlice {
  ports?: { name?: string; port?: number }[] | null;
  endpoints?:
    | {
        addresses?: string[];
        conditions?: { ready?: boolean | null } | null;
        targetRef?: { kind?: string; name?: string; namespace?: string } | null;
      }[]
    | null;
}

const enc = encodeURIComponent;

/**
 * The ready replicas behind a Service, from its EndpointSlices (`kubernetes.io/service-name`), on the port
 * named `portName` (or `fallbackPort` when a slice has no such port), as the operator finds them.
 */
export async function serviceReplicas(
  session: Session,
  namespace: string,
  service: string,
  portName: string,
  fallbackPort?: string,
): Promise<Replica[]> {
  const selector = enc(`kubernetes.io/service-name=${service}`);
  const list = await session.client.get<{ items: EndpointSlice[] }>(
    `/apis/discovery.k8s.io/v1/namespaces/${enc(namespace)}/endpointslices?labelSelector=${selector}`,
  );
  const out: Replica[] = [];
  const seen = new Set<string>();
  for (const slice of list.items) {
    const port =
      slice.ports?.find((p) => p.name === portName) ??
      (fallbackPort ? slice.ports?.find((p) => p.name === fallbackPort) : undefined);
    if (!port?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      const pod = ep.targetRef?.kind === 'Pod' ? ep.targetRef.name : undefined;
      const r: Replica = pod
        ? {
            label: `pod/${pod}`,
            proxyPath: `/api/v1/namespaces/${enc(ep.targetRef?.namespace ?? namespace)}/pods/${enc(pod)}:${port.port}/proxy`,
          }
        : {
            // An endpoint without a pod: the Service proxy (one replica of the apiserver's choosing).
            label: `svc/${service}`,
            proxyPath: `/api/v1/namespaces/${enc(namespace)}/services/${enc(service)}:${enc(port.name ?? String(port.port))}/proxy`,
          };
      if (seen.has(r.label)) continue;
      seen.add(r.label);
      out.push(r);
    }
  }
  return out;
}

/**
 * A URL as the plugin can reach it: an in-cluster Service name (`NAME.NAMESPACE.svc[.cluster.local]`)
 * through the apiserver's Service proxy on the same port, anything else directly. Returns the replica and
 * the path of the document on it.
 */
export function urlReplica(url: string): { replica: Replica; path: string } {
  const u = new URL(url);
  const path = `${u.pathname}${u.search}`;
  const [, service, namespace] =
    /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?$/.exec(u.hostname) ?? [];
  if (service && namespace) {
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const scheme = u.protocol === 'https:' ? 'https:' : '';
    return {
      replica: {
        label: `svc/${service}`,
        proxyPath: `/api/v1/namespaces/${enc(namespace)}/services/${scheme}${enc(service)}:${port}/proxy`,
      },
      path,
    };
  }
  return { replica: { label: u.origin, origin: u.origin }, path };
}

/** GETs `path` on a replica; the body, or the reason it could not be read. */
export async function readReplica(
  session: Session,
  replica: Replica,
  path: string,
): Promise<{ text?: string; error?: string }> {
  try {
    if (replica.proxyPath) return { text: await session.client.getText(`${replica.proxyPath}${path}`) };
    const res = await fetch(`${replica.origin}${path}`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return { error: `HTTP ${res.status}` };
    return { text: await res.text() };
  } catch (err) {
    return { error: describeError(err) };
  }
}
