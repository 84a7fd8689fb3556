/**
 * What the harness's Kubernetes node changes on the machine, and how it is undone: the bridge and the
 * blackhole route, the egress guard, the sysctls the kubelet and the CNI plugins set, the iptables chains of
 * kube-proxy, the kubelet and the NetworkPolicy enforcer (and kube-router's ipsets), the kubelet's cgroups,
 * the mounts of containerd and the kubelet, the directories they write outside the node's own, and the
 * processes (containerd's shims and the containers outlive a SIGKILLed harness). Before it changes anything
 * the harness records the machine's state in a file; whoever starts the next node finds that file when the
 * last one was killed and puts the machine back first.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { sleep } from '../wait.js';
import { type HostAddress, type HostRoute, type NodeNetwork, routeConflicts } from './network.js';

/** Fixed: one node per machine (port 10250, /var/lib/kubelet/device-plugins and the cgroup names are fixed too). */
export const NODE_ROOT = '/tmp/novapos-node';
const RECORD = path.join(NODE_ROOT, 'host.json');
const OWNER = path.join(NODE_ROOT, 'owner.pid');
export const EGRESS_CHAIN = 'NOVAPOS-NODE-EGRESS';

/** Sysctls the node's components set (kubelet: the first three; CNI bridge: forwarding), restored at stop. */
const SYSCTLS = [
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.forwarding',
  'net.ipv4.conf.default.forwarding',
  'net.ipv6.conf.all.forwarding',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'vm.overcommit_memory',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.netfilter.nf_conntrack_max',
  'net.netfilter.nf_conntrack_tcp_timeout_established',
  'net.netfilter.nf_conntrack_tcp_timeout_close_wait',
];

/** Paths outside NODE_ROOT that the kubelet, containerd, runc or the CNI plugins create (removed if they were absent). */
const FOREIGN_PATHS = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/run/mount',
  '/run/nri',
  '/run/runc',
  '/run/netns',
  '/run/kubernetes',
  '/var/lib/cni',
  '/var/lib/containerd',
  '/var/lib/kube-proxy',
  '/etc/cni',
  '/etc/cdi',
  '/run/cdi',
  '/etc/kubernetes',
  '/etc/containerd',
  '/opt/cni',
  '/opt/containerd',
];

/**
 * Where the node's binaries live: `own` holds only the node's (kubelet, containerd, the shims...), `shared`
 * also serves the other suites (kube-apiserver, etcd), whose processes count as the node's only when their
 * command line names the node's directory.
 */
export interface NodeBinDirs {
  readonly own: readonly string[];
  readonly shared: readonly string[];
}

/** What the machine looked like before the node touched it. */
export interface HostRecord {
  readonly ownerPid: number;
  readonly network: NodeNetwork;
  readonly sysctls: Record<string, string>;
  readonly absentPaths: string[];
  readonly bins: NodeBinDirs;
  readonly createdAt: string;
}

function sh(cmd: string, args: readonly string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

function trySh(cmd: string, args: readonly string[]): boolean {
  try {
    sh(cmd, args);
    return true;
  } catch {
    return false;
  }
}

function log(line: string): void {
  process.stderr.write(`[node] ${line}\n`);
}

/** Whether `pid` runs: a zombie (exited, not yet reaped by its parent, e.g. a SIGKILLed owner) does not. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ...", comm may hold spaces and parentheses: the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const sysctlPath = (name: string) => path.join('/proc/sys', ...name.split('.'));

export function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(sysctlPath(name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function writeSysctl(name: string, value: string): void {
  writeFileSync(sysctlPath(name), `${value}\n`);
}

/** Pid of the process that owns a running node on this machine, if any. */
export function nodeOwner(): number | undefined {
  try {
    const pid = Number(readFileSync(OWNER, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes this process the node's owner: refuses while another live process owns one, puts the machine back
 * after a node whose owner died, refuses when the node's ranges collide with the machine's routes, then
 * records the machine's state. Returns the record and the run directory (fresh).
 */
export async function takeOverHost(
  network: NodeNetwork,
  bins: NodeBinDirs,
): Promise<{ record: HostRecord; runDir: string }> {
  if (process.getuid?.() !== 0) {
    throw new Error('the Kubernetes node needs root (bridge, iptables, cgroups, mounts): run as root');
  }
  const owner = nodeOwner();
  if (owner !== undefined && owner !== process.pid) {
    throw new Error(
      `a Kubernetes node already runs on this machine (owner pid ${owner}); the harness runs one node per machine`,
    );
  }
  if (existsSync(RECORD)) {
    const previous = JSON.parse(readFileSync(RECORD, 'utf8')) as HostRecord;
    log(
      `a node owned by pid ${previous.ownerPid} (started ${previous.createdAt}) was not stopped: cleaning up`,
    );
    await cleanupHost(previous);
  } else {
    // No record: still end stray processes of an earlier node (a record removed by hand, an older harness).
    killNodeProcesses(bins);
  }
  const conflicts = routeConflicts(network, hostRoutes(), hostAddresses());
  if (conflicts.length) {
    throw new Error(
      `refusing to start the Kubernetes node: ${conflicts.join('; ')} (set NOVAPOS_NODE_SUBNET / NOVAPOS_NODE_SERVICE_RANGE)`,
    );
  }
  for (const root of cgroupRoots()) {
    if (existsSync(path.join(root, 'kubepods'))) {
      throw new Error(
        `refusing to start the Kubernetes node: ${root}/kubepods exists (another kubelet runs here?)`,
      );
    }
  }
  mkdirSync(NODE_ROOT, { recursive: true, mode: 0o755 });
  const record: HostRecord = {
    ownerPid: process.pid,
    network,
    sysctls: Object.fromEntries(
      SYSCTLS.map((n) => [n, readSysctl(n)]).filter((e): e is [string, string] => e[1] !== undefined),
    ),
    absentPaths: FOREIGN_PATHS.filter((p) => !existsSync(p)),
    bins,
    createdAt: new Date().toISOString(),
  };
  writeFileSync(OWNER, String(process.pid));
  writeFileSync(RECORD, JSON.stringify(record, null, 2));
  const runDir = path.join(NODE_ROOT, 'run');
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true, mode: 0o755 });
  return { record, runDir };
}

/**
 * Puts the machine back after a node whose owner died (what the next start would do), without starting one:
 * for a suite that killed a node and ends without starting another. Returns false when there was none.
 */
export async function cleanupAbandonedNode(): Promise<boolean> {
  if (!existsSync(RECORD) || nodeOwner() !== undefined) return false;
  await cleanupHost(JSON.parse(readFileSync(RECORD, 'utf8')) as HostRecord);
  return true;
}

export function hostRoutes(): HostRoute[] {
  return JSON.parse(sh('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as HostRoute[];
}

export function hostAddresses(): HostAddress[] {
  const links = JSON.parse(sh('ip', ['-j', '-4', 'addr', 'show'])) as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number; family: string }[];
  }[];
  return links.flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({ dev: l.ifname, local: a.local, prefixlen: a.prefixlen })),
  );
}

// ---- the egress guard ----------------------------------------------------------------------------------

const ipt = (v6: boolean) => (v6 ? 'ip6tables' : 'iptables');

/**
 * Where the guard sits: the filter table (REJECT) always. A NetworkPolicy enforcer that ACCEPTs what the
 * policies allow from a chain it keeps first in filter's FORWARD/INPUT (kube-router) would pass a pod's
 * packet before the guard saw it, so with one the guard also sits in the mangle table, which the kernel runs
 * before filter at the same hooks (DROP: mangle cannot REJECT).
 */
const GUARD_TABLES = [
  { table: 'filter', verdict: 'REJECT' },
  { table: 'mangle', verdict: 'DROP' },
] as const;

/**
 * Installed before anything else: every packet from the bridge to an address that is neither on the bridge
 * nor loopback is rejected and counted (IPv4 and IPv6; IPv6 link-local and link-scope multicast stay on the
 * bridge and are let through). The count must be 0 at teardown. `enforcer`: also in the mangle table (above).
 */
export function installEgressGuard(net: NodeNetwork, opts: { enforcer?: boolean } = {}): void {
  for (const v6 of [false, true]) {
    const cmd = ipt(v6);
    removeEgressGuard(v6);
    for (const { table, verdict } of GUARD_TABLES) {
      if (table === 'mangle' && !opts.enforcer) continue;
      sh(cmd, ['-w', '-t', table, '-N', EGRESS_CHAIN]);
      const allowed = v6 ? ['::1/128', 'fe80::/10', 'ff02::/16'] : [net.subnet, '127.0.0.0/8'];
      for (const dst of allowed) sh(cmd, ['-w', '-t', table, '-A', EGRESS_CHAIN, '-d', dst, '-j', 'RETURN']);
      sh(cmd, [
        '-w',
        '-t',
        table,
        '-A',
        EGRESS_CHAIN,
        '-m',
        'comment',
        '--comment',
        'novapos node: traffic leaving the bridge',
        '-j',
        verdict,
      ]);
      for (const hook of ['FORWARD', 'INPUT']) {
        sh(cmd, ['-w', '-t', table, '-I', hook, '1', '-i', net.bridge, '-j', EGRESS_CHAIN]);
      }
    }
  }
}

/** Packets the guard rejected (or dropped) so far (IPv4 + IPv6, every table); 0 when it is not installed. */
export function egressRejected(): number {
  let total = 0;
  for (const v6 of [false, true]) {
    for (const { table, verdict } of GUARD_TABLES) {
      let out: string;
      try {
        out = sh(ipt(v6), ['-w', '-t', table, '-L', EGRESS_CHAIN, '-n', '-v', '-x']);
      } catch {
        continue;
      }
      for (const line of out.split('\n')) {
        const cols = line.trim().split(/\s+/);
        if (cols[2] === verdict) total += Number(cols[0]);
      }
    }
  }
  return total;
}

function removeEgressGuard(v6: boolean): void {
  const cmd = ipt(v6);
  for (const { table } of GUARD_TABLES) {
    for (const rule of listRules(cmd, table)) {
      if (rule.jumpsTo === EGRESS_CHAIN && rule.chain !== EGRESS_CHAIN) {
        trySh(cmd, ['-w', '-t', table, '-D', ...rule.spec]);
      }
    }
    trySh(cmd, ['-w', '-t', table, '-F', EGRESS_CHAIN]);
    trySh(cmd, ['-w', '-t', table, '-X', EGRESS_CHAIN]);
  }
}

// ---- iptables ----------------------------------------------------------------------------------------

interface Rule {
  readonly chain: string;
  /** The rule as `-A` took it, without the `-A`: pass to `-D` to delete it. */
  readonly spec: string[];
  readonly jumpsTo?: string;
}

/** Splits an `iptables -S` line the way the shell would (the comments are quoted). */
function splitArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

function listRules(cmd: string, table: string): Rule[] {
  let out: string;
  try {
    out = sh(cmd, ['-w', '-t', table, '-S']);
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter((l) => l.startsWith('-A '))
    .map((l) => {
      const args = splitArgs(l).slice(1);
      const j = args.findIndex((a) => a === '-j' || a === '-g');
      return { chain: args[0]!, spec: args, jumpsTo: j >= 0 ? args[j + 1] : undefined };
    });
}

function listChains(cmd: string, table: string): string[] {
  try {
    return sh(cmd, ['-w', '-t', table, '-S'])
      .split('\n')
      .filter((l) => l.startsWith('-N '))
      .map((l) => l.slice(3).trim());
  } catch {
    return [];
  }
}

const TABLES = ['filter', 'nat', 'mangle', 'raw'];

/** Every KUBE-* chain of kube-proxy and the kubelet, and the jumps to them from the built-in chains. */
export function removeKubeChains(): void {
  for (const cmd of ['iptables', 'ip6tables']) {
    for (const table of TABLES) {
      for (const rule of listRules(cmd, table)) {
        if (!rule.chain.startsWith('KUBE-') && rule.jumpsTo?.startsWith('KUBE-')) {
          trySh(cmd, ['-w', '-t', table, '-D', ...rule.spec]);
        }
      }
      const chains = listChains(cmd, table).filter((c) => c.startsWith('KUBE-'));
      for (const c of chains) trySh(cmd, ['-w', '-t', table, '-F', c]);
      for (const c of chains) trySh(cmd, ['-w', '-t', table, '-X', c]);
    }
  }
}

// ---- ipsets (kube-router's NetworkPolicy firewall) ------------------------------------------------------

/** kube-router's sets: KUBE-SRC-/KUBE-DST- per policy, TMP- while it swaps one, `inet6:` for IPv6. */
const KUBE_ROUTER_IPSET = /^(inet6:)?(KUBE-|TMP-)/;

function ipsetNames(): string[] | undefined {
  try {
    return sh('ipset', ['list', '-n'])
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  } catch {
    return undefined; // no ipset binary (no enforcer ever ran here) or no kernel support
  }
}

/** Destroys kube-router's ipsets (after the iptables rules that name them are gone). */
export function removeKubeIpsets(): void {
  for (const name of ipsetNames()?.filter((n) => KUBE_ROUTER_IPSET.test(n)) ?? []) {
    if (!trySh('ipset', ['destroy', name])) log(`cannot destroy ipset ${name}`);
  }
}

/** kube-router's ipsets still on the machine: empty on a clean one. */
export function kubeIpsetsLeft(): string[] {
  return (ipsetNames() ?? []).filter((n) => KUBE_ROUTER_IPSET.test(n)).map((n) => `ipset ${n}`);
}

/** `iptables -S` lines (all tables, IPv4 and IPv6) that mention KUBE-: empty on a clean machine. */
export function kubeIptablesLeft(): string[] {
  const left: string[] = [];
  for (const cmd of ['iptables', 'ip6tables']) {
    for (const table of TABLES) {
      try {
        for (const l of sh(cmd, ['-w', '-t', table, '-S']).split('\n')) {
          if (/KUBE-|NOVAPOS-NODE/.test(l)) left.push(`${cmd} -t ${table}: ${l}`);
        }
      } catch {
        // table absent
      }
    }
  }
  return left;
}

// ---- processes ---------------------------------------------------------------------------------------

function procExe(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

function procCmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Processes of a node: a binary from the node's own build directories (kubelet, containerd, its shims, ...),
 * or from the shared ones with a command line naming the node's directory (its etcd and kube-apiserver; the
 * shared environment's run from the same binaries elsewhere). Never this process.
 */
export function nodeProcesses(bins: NodeBinDirs): { pid: number; what: string }[] {
  const found: { pid: number; what: string }[] = [];
  const inDirs = (exe: string, dirs: readonly string[]) => dirs.some((d) => exe.startsWith(`${d}/`));
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const exe = procExe(pid);
    if (!exe) continue;
    const cmdline = procCmdline(pid);
    if (inDirs(exe, bins.own) || (inDirs(exe, bins.shared) && cmdline.includes(`${NODE_ROOT}/`))) {
      found.push({ pid: Number(pid), what: cmdline.slice(0, 120) || exe });
    }
  }
  return found;
}

function killNodeProcesses(bins: NodeBinDirs): void {
  for (const p of nodeProcesses(bins)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

// ---- cgroups -----------------------------------------------------------------------------------------

/** Mount points of every cgroup hierarchy (v1 controllers, name=systemd, the v2 mount of a hybrid host). */
export function cgroupRoots(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => f[1]!);
}

/** Every cgroup directory under `dir`, deepest first. */
function cgroupTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...cgroupTree(path.join(dir, e.name)));
  }
  out.push(dir);
  return out;
}

function kubepodsPids(): number[] {
  const pids = new Set<number>();
  for (const root of cgroupRoots()) {
    for (const dir of cgroupTree(path.join(root, 'kubepods'))) {
      try {
        for (const p of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
          if (p.trim()) pids.add(Number(p));
        }
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...pids];
}

/** Cgroup directories named kubepods left in any hierarchy. */
export function kubepodsLeft(): string[] {
  return cgroupRoots()
    .map((r) => path.join(r, 'kubepods'))
    .filter((d) => existsSync(d));
}

async function killContainers(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const pids = kubepodsPids();
    if (!pids.length) return;
    if (Date.now() > deadline) throw new Error(`container processes survive SIGKILL: ${pids.join(', ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(100);
  }
}

async function removeKubepodsCgroups(): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const left: string[] = [];
    for (const root of cgroupRoots()) {
      for (const dir of cgroupTree(path.join(root, 'kubepods'))) {
        try {
          rmdirSync(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
        }
      }
    }
    if (!left.length) return;
    if (Date.now() > deadline) throw new Error(`cannot remove cgroups: ${left.slice(0, 5).join(', ')}`);
    await sleep(200);
  }
}

// ---- mounts ------------------------------------------------------------------------------------------

/** Mount points under the node's directories, in mount order. */
export function nodeMounts(extraPrefixes: readonly string[] = []): string[] {
  const prefixes = [NODE_ROOT, ...extraPrefixes];
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)));
}

async function unmountAll(extraPrefixes: readonly string[]): Promise<void> {
  for (let pass = 0; pass < 20; pass++) {
    const mounts = nodeMounts(extraPrefixes);
    if (!mounts.length) return;
    for (const m of mounts.reverse()) {
      if (!trySh('umount', [m])) trySh('umount', ['-l', m]);
    }
    await sleep(50);
  }
  const left = nodeMounts(extraPrefixes);
  if (left.length) throw new Error(`cannot unmount: ${left.slice(0, 5).join(', ')}`);
}

// ---- network -----------------------------------------------------------------------------------------

export function createBridge(net: NodeNetwork): void {
  sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  // IPv6 stays off the bridge: the node is IPv4 only, and nothing should route it.
  writeSysctl(`net.ipv6.conf.${net.bridge}.disable_ipv6`, '1');
  const prefix = net.subnet.split('/')[1];
  sh('ip', ['addr', 'add', `${net.nodeIp}/${prefix}`, 'dev', net.bridge]);
  sh('ip', ['link', 'set', net.bridge, 'up']);
  sh('ip', ['route', 'add', 'blackhole', net.serviceRange]);
}

function removeBridge(net: NodeNetwork): void {
  // Pods' veths die with their network namespaces; delete any that a killed run left on the bridge.
  try {
    const links = JSON.parse(sh('ip', ['-j', 'link', 'show', 'master', net.bridge])) as { ifname: string }[];
    for (const l of links) trySh('ip', ['link', 'del', l.ifname]);
  } catch {
    // no bridge
  }
  trySh('ip', ['link', 'del', net.bridge]);
  trySh('ip', ['route', 'del', 'blackhole', net.serviceRange]);
}

export function bridgeExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

// ---- the whole cleanup -------------------------------------------------------------------------------

/**
 * Puts the machine back as `record` found it. Idempotent, and safe after a SIGKILL at any point of a start
 * or a stop. Order matters: processes first (kube-proxy and the kubelet would recreate rules and cgroups),
 * then containers (their processes hold mounts and cgroups), then mounts, cgroups, iptables, sysctls, the
 * bridge, and the directories.
 */
export async function cleanupHost(record: HostRecord): Promise<void> {
  killNodeProcesses(record.bins);
  await killContainers();
  // The shims exit once their containers are gone; SIGKILL whatever is left of them.
  killNodeProcesses(record.bins);
  const deadline = Date.now() + 15_000;
  while (nodeProcesses(record.bins).length && Date.now() < deadline) {
    killNodeProcesses(record.bins);
    await sleep(100);
  }
  const survivors = nodeProcesses(record.bins);
  if (survivors.length) {
    throw new Error(
      `node processes survive SIGKILL: ${survivors.map((p) => `${p.pid} ${p.what}`).join('; ')}`,
    );
  }
  const foreign = record.absentPaths;
  await unmountAll(foreign);
  await removeKubepodsCgroups();
  removeKubeChains();
  removeKubeIpsets();
  removeEgressGuard(false);
  removeEgressGuard(true);
  // ip_forward first: writing it resets every interface's forwarding, which the other entries then restore.
  const entries = Object.entries(record.sysctls).sort(([a], [b]) =>
    a === 'net.ipv4.ip_forward' ? -1 : b === 'net.ipv4.ip_forward' ? 1 : 0,
  );
  for (const [name, value] of entries) {
    if (readSysctl(name) !== value) {
      try {
        writeSysctl(name, value);
      } catch (err) {
        log(`cannot restore ${name}=${value}: ${(err as Error).message}`);
      }
    }
  }
  removeBridge(record.network);
  for (const p of foreign) rmSync(p, { recursive: true, force: true });
  rmSync(path.join(NODE_ROOT, 'run'), { recursive: true, force: true });
  rmSync(RECORD, { force: true });
  rmSync(OWNER, { force: true });
  try {
    rmdirSync(NODE_ROOT);
  } catch {
    // not empty (logs kept on purpose) or already gone
  }
}

/** What a clean machine must not show after a node stopped; empty when clean. */
export function leftovers(record: HostRecord): string[] {
  const left: string[] = [];
  for (const p of nodeProcesses(record.bins)) left.push(`process ${p.pid}: ${p.what}`);
  for (const m of nodeMounts(record.absentPaths)) left.push(`mount ${m}`);
  for (const c of kubepodsLeft()) left.push(`cgroup ${c}`);
  left.push(...kubeIptablesLeft());
  left.push(...kubeIpsetsLeft());
  for (const [name, value] of Object.entries(record.sysctls)) {
    const now = readSysctl(name);
    if (now !== undefined && now !== value) left.push(`sysctl ${name}=${now} (was ${value})`);
  }
  if (bridgeExists(record.network.bridge)) left.push(`bridge ${record.network.bridge}`);
  for (const p of record.absentPaths) if (existsSync(p)) left.push(`path ${p}`);
  if (existsSync(path.join(NODE_ROOT, 'run'))) left.push(`path ${NODE_ROOT}/run`);
  try {
    if (
      sh('ip', ['-4', 'route', 'show', 'type', 'blackhole']).includes(
        record.network.serviceRange.split('/')[0]!,
      )
    ) {
      left.push(`route blackhole ${record.network.serviceRange}`);
    }
  } catch {
    // ip failed: reported elsewhere
  }
  return left;
}

/** For diagnostics: the size of a directory tree's top level. */
export function dirExists(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
