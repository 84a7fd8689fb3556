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
  /** Namespaces of the services the operator probes (/keys/status, /keys/reload) and drills. Default `novapos`. */
  readonly serviceNamespaces?: readonly string[];
  /**
   * The apiserver's addresses (it is not a pod: an ipBlock). Default `0.0.0.0/0` on 443 and 6443: narrow
   * it to the control plane's endpoints where they are known.
   */
  readonly apiServerCidrs?: readonly string[];
  /** Vault: in-cluster namespace (default `vault`, port 8200) and/or the other environments' addresses. */
  readonly vault?: {
    readonly namespace?: string;
    readonly cidrs?: readonly string[];
    readonly port?: number;
  };
  /** Redis the gateway limiter reads (TenantRateLimits, drill faults). Default namespace `novapos`, port 6379. */
  readonly redis?: {
    readonly namespace?: string;
    readonly cidrs?: readonly string[];
    readonly port?: number;
  };
  readonly labels?: Readonly<Record<string, string>>;
}

const DNS_PORT = 53;

/**
 * Default deny for the operator pods, then exactly their flows (docs/network-policies.md):
 * in: metrics 8080 and the drill webhook 8082 from the monitoring namespace, probes 8081 (kubelet);
 * out: DNS, the apiserver, Vault, Redis, the services' key endpoints and drill targets (8083, 8085, 9083, 9085),
 * Alertmanager 9093.
 */
export class OperatorNetworkPolicy extends Construct {
  /** The egress flows, for the flow-table test. */
  readonly egress: readonly EgressPeer[];

  constructor(scope: Construct, id: string, props: OperatorNetworkPolicyProps) {
    super(scope, id);
    const monitoring = props.monitoringNamespace ?? 'monitoring';
    const vault = props.vault ?? {};
    const redis = props.redis ?? {};
    this.egress = [
      {
        namespace: 'kube-system',
        podLabels: { 'k8s-app': 'kube-dns' },
        ports: [DNS_PORT],
        protocols: ['UDP', 'TCP'],
      },
      { cidrs: props.apiServerCidrs ?? ['0.0.0.0/0'], ports: [443, 6443] },
      ...(vault.cidrs?.length ? [{ cidrs: vault.cidrs, ports: [vault.port ?? 8200] }] : []),
      { namespace: vault.namespace ?? 'vault', ports: [vault.port ?? 8200] },
      ...(redis.cidrs?.length ? [{ cidrs: redis.cidrs, ports: [redis.port ?? 6379] }] : []),
      { namespace: redis.namespace ?? 'novapos', ports: [redis.port ?? 6379] },
      ...(props.serviceNamespaces ?? ['novapos']).map((namespace) => ({
        namespace,
        ports: [8083, 8085, 9083, 9085],
      })),
      { namespace: monitoring, ports: [9093] },
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
                ipBlock: { cidr, ...(cidr.endsWith('/0') ? { except: ['169.254.0.0/16'] } : {}) },
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
