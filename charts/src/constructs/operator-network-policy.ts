import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';

/** Where one egress flow goes: pods of a namespace (by its name label), or address blocks. */
export interface EgressPeer {
  /** `kubernetes.io/metadata.name` of the namespace. */
  readonly namespace?: string;
  /** Pod labels within that namespace; default every pod. */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** Address blocks (outside the cluster's pod network, e.g. the apiserver, an external Vault). */
  readonly cidrs?: readonly string[];
  readonly ports: readonly number[];
  readonly protocols?: readonly ('TCP' | 'UDP')[];
}

export interface OperatorNetworkPolicyProps {
  readonly name: string;
  readonly namespace: string;
  /** The operator pods' labels (the Deployment's selector). */
  readonly podSelector: Readonly<Record<string, string>>;
  /** Prometheus (scrapes 8080) and Alertmanager (posts drill alerts to 8082, answers on 9093). Default `monitoring`. */
  readonly monitoringNamespace?: string;
  /** Alertmanager's pod labels (prometheus-operator's). Default `app.kubernetes.io/name: alertmanager`. */
  readonly alertmanagerPodLabels?: Readonly<Record<string, string>>;
  /** Namespaces of the services the operator probes (/keys/status, /keys/reload) and drills. Default `novapos`. */
  readonly serviceNamespaces?: readonly string[];
  /**
   * The services' pods there and the ports the operator calls on each: `http` for /keys/status and a drill's
   * traffic, `admin` for POST /keys/reload (docs/contracts.md). Default SERVICE_PORTS.
   */
  readonly services?: readonly ServicePorts[];
  /**
   * The apiserver's addresses (it is not a pod: an ipBlock), on 443 and 6443. Default the private address
   * ranges (no public address, never the metadata service): narrow it to the control plane's endpoints.
   */
  readonly apiServerCidrs?: readonly string[];
  /**
   * Vault: in-cluster pods (namespace default `vault`, labels default `app.kubernetes.io/name: vault`, port
   * 8200) and/or the other environments' addresses (`cidrs`); `namespace: false` for none in the cluster.
   */
  readonly vault?: {
    readonly namespace?: string | false;
    readonly podLabels?: Readonly<Record<string, string>>;
    readonly cidrs?: readonly string[];
    readonly port?: number;
  };
  /**
   * Redis the gateway limiter reads (TenantRateLimits, drill faults): pods (namespace default `novapos`,
   * labels default `app.kubernetes.io/name: redis`, port 6379) and/or addresses; `namespace: false` for none.
   */
  readonly redis?: {
    readonly namespace?: string | false;
    readonly podLabels?: Readonly<Record<string, string>>;
    readonly cidrs?: readonly string[];
    readonly port?: number;
  };
  readonly labels?: Readonly<Record<string, string>>;
}

const DNS_PORT = 53;

/** A service's pods and the ports the operator calls there. */
export interface ServicePorts {
  readonly podLabels: Readonly<Record<string, string>>;
  readonly ports: readonly number[];
}

/**
 * auth-service: http 8085, admin 9085; the gateway: http 8083, admin 9083; the audit-service: admin 9087 only
 * (the drill's auditCatchUp pauses and resumes its consumer there) (the services chart's ports).
 */
export const SERVICE_PORTS: readonly ServicePorts[] = [
  { podLabels: { 'app.kubernetes.io/name': 'auth-service' }, ports: [8085, 9085] },
  { podLabels: { 'app.kubernetes.io/name': 'integration-gateway' }, ports: [8083, 9083] },
  { podLabels: { 'app.kubernetes.io/name': 'audit-service' }, ports: [9087] },
];

/** Where an apiserver of the supported clusters listens: private addresses, never a public one. */
export const PRIVATE_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] as const;

/**
 * Default deny for the operator pods, then exactly their flows (docs/network-policies.md):
 * in: metrics 8080 and the drill webhook 8082 from the monitoring namespace, probes 8081 (kubelet);
 * out: DNS (CoreDNS pods), the apiserver (private addresses by default), Vault's and Redis's pods (or
 * addresses), each service's pods on its own http and admin ports (auth-service 8085/9085, the gateway
 * 8083/9083, the audit-service's admin port 9087), Alertmanager's pods on 9093. Nothing else: no other pod of those namespaces, no public address.
 */
export class OperatorNetworkPolicy extends Construct {
  /** The egress flows, for the flow-table test. */
  readonly egress: readonly EgressPeer[];

  constructor(scope: Construct, id: string, props: OperatorNetworkPolicyProps) {
    super(scope, id);
    const monitoring = props.monitoringNamespace ?? 'monitoring';
    const vault = props.vault ?? {};
    const redis = props.redis ?? {};
    const inCluster = (
      peer: { namespace?: string | false; podLabels?: Readonly<Record<string, string>> },
      namespace: string,
      podLabels: Record<string, string>,
      port: number,
    ): EgressPeer[] =>
      peer.namespace === false
        ? []
        : [{ namespace: peer.namespace ?? namespace, podLabels: peer.podLabels ?? podLabels, ports: [port] }];
    const blocks = (cidrs: readonly string[] | undefined, port: number): EgressPeer[] =>
      cidrs?.length ? [{ cidrs, ports: [port] }] : [];
    // Each entry is a flow of charts/src/network-flows.ts (network-policies.test.ts checks both ways).
    this.egress = [
      {
        namespace: 'kube-system',
        podLabels: { 'k8s-app': 'kube-dns' },
        ports: [DNS_PORT],
        protocols: ['UDP', 'TCP'],
      },
      { cidrs: props.apiServerCidrs ?? PRIVATE_CIDRS, ports: [443, 6443] },
      ...blocks(vault.cidrs, vault.port ?? 8200),
      ...inCluster(vault, 'vault', { 'app.kubernetes.io/name': 'vault' }, vault.port ?? 8200),
      ...blocks(redis.cidrs, redis.port ?? 6379),
      ...inCluster(redis, 'novapos', { 'app.kubernetes.io/name': 'redis' }, redis.port ?? 6379),
      ...(props.serviceNamespaces ?? ['novapos']).flatMap((namespace) =>
        (props.services ?? SERVICE_PORTS).map((svc) => ({
          namespace,
          podLabels: svc.podLabels,
          ports: svc.ports,
        })),
      ),
      {
        namespace: monitoring,
        podLabels: props.alertmanagerPodLabels ?? { 'app.kubernetes.io/name': 'alertmanager' },
        ports: [9093],
      },
    ];
    const fromNamespace = (ns: string) => ({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    });
    const tcp = (port: number, protocol: 'TCP' | 'UDP' = 'TCP') => ({
      port: k8s.IntOrString.fromNumber(port),
      protocol,
    });
    new k8s.KubeNetworkPolicy(this, 'Policy', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        podSelector: { matchLabels: { ...props.podSelector } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [fromNamespace(monitoring)], ports: [tcp(8080), tcp(8082)] },
          // Liveness and readiness come from the kubelet on the node, not from a pod.
          { ports: [tcp(8081)] },
        ],
        egress: this.egress.map((e) => ({
          to: e.cidrs
            ? e.cidrs.map((cidr) => ({
                // Never the cloud metadata service, whatever the block.
                ipBlock: { cidr, ...(inCidr('169.254.169.254', cidr) ? { except: ['169.254.0.0/16'] } : {}) },
              }))
            : [
                {
                  ...fromNamespace(e.namespace as string),
                  ...(e.podLabels ? { podSelector: { matchLabels: { ...e.podLabels } } } : {}),
                },
              ],
          ports: e.ports.flatMap((p) => (e.protocols ?? ['TCP']).map((proto) => tcp(p, proto))),
        })),
      },
    });
  }
}

/** Whether an IPv4 address is inside a CIDR block. */
export function inCidr(ip: string, cidr: string): boolean {
  const num = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(num(ip) / size) === Math.floor(num(base as string) / size);
}
