import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { inCidr } from './constructs/operator-network-policy.js';
import { synthesize } from './main.js';
import {
  type Endpoint,
  endpoints,
  type Flow,
  operatorFlows,
  type PodEndpoint,
  serviceFlows,
} from './network-flows.js';

type Labels = Record<string, string>;
interface Peer {
  podSelector?: { matchLabels?: Labels };
  namespaceSelector?: { matchLabels?: Labels };
  ipBlock?: { cidr: string; except?: string[] };
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: { port?: number; protocol?: string }[];
}
interface Policy {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: { podSelector: { matchLabels?: Labels }; policyTypes: string[]; ingress?: Rule[]; egress?: Rule[] };
}

const policies = Object.values(synthesize())
  .flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as Policy))
  .filter((o) => o?.kind === 'NetworkPolicy');

const isPod = (e: Endpoint): e is PodEndpoint => 'namespace' in e;
const matches = (selector: Labels | undefined, labels: Labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

function peerMatches(peer: Peer, policyNs: string, other: Endpoint): boolean {
  if (peer.ipBlock)
    return (
      inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c))
    );
  if (!isPod(other)) return false;
  const nsOk = peer.namespaceSelector
    ? matches(peer.namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': other.namespace })
    : other.namespace === policyNs;
  return nsOk && matches(peer.podSelector?.matchLabels, other.labels);
}

/** Whether `self`'s policies of one direction let the connection to/from `other` on port/protocol through. */
function allows(
  direction: 'Ingress' | 'Egress',
  self: Endpoint,
  other: Endpoint,
  port: number,
  protocol: string,
) {
  if (!isPod(self)) return true;
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === self.namespace &&
      p.spec.policyTypes.includes(direction) &&
      matches(p.spec.podSelector.matchLabels, self.labels),
  );
  if (!selecting.length) return true;
  return selecting.some((p) =>
    (direction === 'Ingress' ? p.spec.ingress : p.spec.egress)?.some((rule) => {
      const peers = direction === 'Ingress' ? rule.from : rule.to;
      const peerOk = !peers || peers.some((peer) => peerMatches(peer, p.metadata.namespace, other));
      const portOk =
        !rule.ports ||
        rule.ports.some(
          (r) => (r.port === undefined || r.port === port) && (r.protocol ?? 'TCP') === protocol,
        );
      return peerOk && portOk;
    }),
  );
}

const evaluate = (f: Flow) => {
  const protocol = f.protocol ?? 'TCP';
  return (
    allows('Egress', f.from, f.to, f.port, protocol) && allows('Ingress', f.to, f.from, f.port, protocol)
  );
};

describe("the charts' NetworkPolicies against the committed flow table (charts/src/network-flows.ts)", () => {
  it('has a default-deny policy for the operator in both directions', () => {
    const operator = policies.find((p) => p.metadata.name === 'novapos-operator');
    expect(operator?.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it("declares every egress rule of the operator's policy as a flow (the flow table is the single source)", () => {
    const operator = policies.find((p) => p.metadata.name === 'novapos-operator');
    const declared = operatorFlows.filter((f) => f.allowed && f.from === endpoints.operator);
    const unused = (operator?.spec.egress ?? []).filter(
      (rule) =>
        !declared.some(
          (f) =>
            (rule.to ?? []).some((peer) => peerMatches(peer, 'novapos-system', f.to)) &&
            (rule.ports ?? []).some(
              (r) => r.port === f.port && (r.protocol ?? 'TCP') === (f.protocol ?? 'TCP'),
            ),
        ),
    );
    expect(unused, 'egress rules no declared flow needs').toEqual([]);
  });

  it.each(
    [...operatorFlows, ...serviceFlows].map((f) => [f.allowed ? 'allows' : 'refuses', f.what, f] as const),
  )('%s: %s', (_verb, _what, flow) => {
    expect(evaluate(flow)).toBe(flow.allowed);
  });
});
