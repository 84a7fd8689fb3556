/**
 * The addresses of the harness's Kubernetes node, and the check that they collide with nothing the machine
 * routes. The node lives on a bridge the harness creates: its IP is the bridge's address, pods take the rest
 * of the bridge's subnet, and the Service range is a separate block that only kube-proxy's rules translate (a
 * blackhole route keeps an untranslated Service address from leaving by the default interface).
 */

export interface NodeNetwork {
  /** The bridge the harness creates; pods' veths are attached to it. */
  readonly bridge: string;
  /** The bridge's subnet, which is also the pod subnet. */
  readonly subnet: string;
  /** The node's IP: the bridge's address and the pods' gateway. kube-apiserver and the kubelet listen here. */
  readonly nodeIp: string;
  /** First and last address the CNI's host-local IPAM hands to pods. */
  readonly podRangeStart: string;
  readonly podRangeEnd: string;
  /** The Service ClusterIP range (blackholed). */
  readonly serviceRange: string;
  /** ClusterIP of the `kubernetes` Service (the range's first address). */
  readonly apiServiceIp: string;
  /** ClusterIP of CoreDNS's `kube-dns` Service, the pods' nameserver. */
  readonly dnsIp: string;
}

/** Ranges chosen to be unlikely on a CI or developer machine; NOVAPOS_NODE_SUBNET/NOVAPOS_NODE_SERVICE_RANGE move them. */
export function nodeNetwork(env: NodeJS.ProcessEnv = process.env): NodeNetwork {
  const subnet = env.NOVAPOS_NODE_SUBNET ?? '10.217.0.0/24';
  const serviceRange = env.NOVAPOS_NODE_SERVICE_RANGE ?? '10.217.128.0/24';
  const s = parseCidr(subnet);
  const r = parseCidr(serviceRange);
  if (s.prefix > 26) throw new Error(`NOVAPOS_NODE_SUBNET ${subnet}: a /26 or larger is needed`);
  if (r.prefix > 28) throw new Error(`NOVAPOS_NODE_SERVICE_RANGE ${serviceRange}: a /28 or larger is needed`);
  if (overlaps(s, r)) throw new Error(`the node subnet ${subnet} overlaps the Service range ${serviceRange}`);
  const size = 2 ** (32 - s.prefix);
  return {
    bridge: env.NOVAPOS_NODE_BRIDGE ?? 'novapos0',
    subnet: formatCidr(s),
    nodeIp: formatIp(s.base + 1),
    podRangeStart: formatIp(s.base + 16),
    podRangeEnd: formatIp(s.base + size - 2),
    serviceRange: formatCidr(r),
    apiServiceIp: formatIp(r.base + 1),
    dnsIp: formatIp(r.base + 10),
  };
}

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

export function parseIp(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `a.b.c.d/n`, or a bare address (a /32). The base is masked. */
export function parseCidr(cidr: string): Cidr {
  const [ip, bits] = cidr.split('/');
  const prefix = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return { base: (parseIp(ip!) & mask) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** One entry of `ip -j route show table all` (IPv4). */
export interface HostRoute {
  readonly dst: string;
  readonly type?: string;
  readonly dev?: string;
  readonly table?: string;
}

/** One address of `ip -j addr` (IPv4). */
export interface HostAddress {
  readonly dev: string;
  readonly local: string;
  readonly prefixlen: number;
}

/**
 * What on the machine the node's ranges would collide with: routes in any table (the default route aside:
 * it covers everything, which is what the blackhole route is for) and addresses of any interface. Empty when
 * the node can start.
 */
export function routeConflicts(
  net: NodeNetwork,
  routes: readonly HostRoute[],
  addresses: readonly HostAddress[],
): string[] {
  const ours = [
    { what: `node subnet ${net.subnet}`, cidr: parseCidr(net.subnet) },
    { what: `Service range ${net.serviceRange}`, cidr: parseCidr(net.serviceRange) },
  ];
  const conflicts: string[] = [];
  for (const route of routes) {
    if (route.dst === 'default' || route.dst === '0.0.0.0/0') continue;
    const cidr = parseCidr(route.dst);
    for (const o of ours) {
      if (overlaps(o.cidr, cidr)) {
        conflicts.push(
          `${o.what} overlaps the route ${[route.type, route.dst, route.dev && `dev ${route.dev}`, route.table && `table ${route.table}`].filter(Boolean).join(' ')}`,
        );
      }
    }
  }
  for (const a of addresses) {
    const cidr = parseCidr(`${a.local}/${a.prefixlen}`);
    for (const o of ours) {
      if (overlaps(o.cidr, cidr)) conflicts.push(`${o.what} overlaps ${a.local}/${a.prefixlen} on ${a.dev}`);
    }
  }
  return [...new Set(conflicts)];
}
