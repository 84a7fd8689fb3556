import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';

/** One side of a flow: pods of a namespace (by its name label, optionally by pod labels), or address blocks. */
export interface NetworkPeer {
  /** `kubernetes.io/metadata.name` of the namespace; absent with `cidrs`, or for "anyone". */
  readonly namespace?: string;
  readonly podLabels?: Readonly<Record<string, string>>;
  /** Address blocks; link-local (169.254.0.0/16, the cloud metadata service) is always excepted. */
  readonly cidrs?: readonly string[];
}

export interface NetworkFlowRule {
  /** Who (ingress) or where (egress); empty or absent: anyone / anywhere. */
  readonly peers?: readonly NetworkPeer[];
  readonly ports: readonly number[];
  readonly protocols?: readonly ('TCP' | 'UDP')[];
}

export interface ServiceNetworkPolicyProps {
  readonly name: string;
  readonly namespace: string;
  readonly podSelector: Readonly<Record<string, string>>;
  /** Given: ingress is default-deny except these. Absent: this policy says nothing about ingress. */
  readonly ingress?: readonly NetworkFlowRule[];
  /** Given: egress is default-deny except these. Absent: this policy says nothing about egress. */
  readonly egress?: readonly NetworkFlowRule[];
  readonly labels?: Readonly<Record<string, string>>;
}

/** DNS through kube-dns, which every pod with an egress policy needs. */
export const DNS_EGRESS: NetworkFlowRule = {
  peers: [{ namespace: 'kube-system', podLabels: { 'k8s-app': 'kube-dns' } }],
  ports: [53],
  protocols: ['UDP', 'TCP'],
};

const LINK_LOCAL = '169.254.0.0/16';

/** A NetworkPolicy from a list of flows (the services' policies; the operator has its own construct). */
export class ServiceNetworkPolicy extends Construct {
  constructor(scope: Construct, id: string, props: ServiceNetworkPolicyProps) {
    super(scope, id);
    const peer = (p: NetworkPeer): k8s.NetworkPolicyPeer[] =>
      p.cidrs
        ? p.cidrs.map((cidr) => ({
            ipBlock: { cidr, ...(cidr.endsWith('/0') ? { except: [LINK_LOCAL] } : {}) },
          }))
        : [
            {
              ...(p.namespace
                ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } } }
                : {}),
              ...(p.podLabels ? { podSelector: { matchLabels: { ...p.podLabels } } } : {}),
            },
          ];
    const rule = (r: NetworkFlowRule, side: 'from' | 'to') => ({
      ...(r.peers?.length ? { [side]: r.peers.flatMap(peer) } : {}),
      ports: r.ports.flatMap((port) =>
        (r.protocols ?? ['TCP']).map((protocol) => ({ port: k8s.IntOrString.fromNumber(port), protocol })),
      ),
    });
    const types = [...(props.ingress ? ['Ingress'] : []), ...(props.egress ? ['Egress'] : [])];
    new k8s.KubeNetworkPolicy(this, 'Policy', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        podSelector: { matchLabels: { ...props.podSelector } },
        policyTypes: types,
        ...(props.ingress ? { ingress: props.ingress.map((r) => rule(r, 'from')) } : {}),
        ...(props.egress ? { egress: props.egress.map((r) => rule(r, 'to')) } : {}),
      },
    });
  }
}

/**
 * The kubelet's probes reach a pod from its node's address, not from a pod: an ipBlock of the node network on
 * the probed port (docs/operator-access.md, "Network"). None for an empty list (a CNI that always admits a
 * pod's own node needs no rule). A block of every address would open the port to everyone, so it is refused.
 */
export function kubeletProbes(nodeCidrs: readonly string[], port: number): NetworkFlowRule[] {
  for (const cidr of nodeCidrs) {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/([1-9]|[12]\d|3[0-2])$/.test(cidr))
      throw new Error(`node CIDR ${cidr}: must be an IPv4 block narrower than /0 (the nodes' network)`);
  }
  return nodeCidrs.length ? [{ peers: [{ cidrs: nodeCidrs }], ports: [port] }] : [];
}
