import type { DiscoveryV1Api } from '@kubernetes/client-node';

/** The ready replicas of a Kubernetes Service and its named key ports (docs/contracts.md, "Ports"). */
export interface ServiceEndpoints {
  /** One address per ready endpoint. */
  readonly ready: readonly string[];
  /** The pod behind an address, when the EndpointSlice names it (`targetRef`): for messages. */
  readonly pods?: ReadonlyMap<string, string>;
  /** Port named `http`: GET /keys/status (and POST /keys/reload when there is no `admin` port). */
  readonly httpPort?: number;
  /** Port named `admin`: POST /keys/reload and /metrics (and GET /keys/status when there is no `http` port). */
  readonly adminPort?: number;
}

/** Finds a Service's ready replicas (the operator reaches each one, not the Service's virtual IP). */
export interface ServiceEndpointsResolver {
  resolve(namespace: string, name: string): Promise<ServiceEndpoints>;
}

/** Through the Service's EndpointSlices (`kubernetes.io/service-name=<name>`); list on endpointslices only. */
export class KubernetesServiceEndpoints implements ServiceEndpointsResolver {
  constructor(private readonly discovery: DiscoveryV1Api) {}

  async resolve(namespace: string, name: string): Promise<ServiceEndpoints> {
    const list = await this.discovery.listNamespacedEndpointSlice({
      namespace,
      labelSelector: `kubernetes.io/service-name=${name}`,
    });
    const ready = new Set<string>();
    const pods = new Map<string, string>();
    let httpPort: number | undefined;
    let adminPort: number | undefined;
    for (const slice of list.items) {
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
      for (const p of slice.ports ?? []) {
        if (p.name === 'http' && p.port) httpPort = p.port;
        if (p.name === 'admin' && p.port) adminPort = p.port;
      }
      for (const e of slice.endpoints ?? []) {
        if (e.conditions?.ready === false) continue;
        const address = e.addresses[0];
        if (!address) continue;
        const shown = slice.addressType === 'IPv6' ? `[${address}]` : address;
        ready.add(shown);
        if (e.targetRef?.kind === 'Pod' && e.targetRef.name) pods.set(shown, e.targetRef.name);
      }
    }
    return { ready: [...ready].sort(), pods, httpPort, adminPort };
  }
}
