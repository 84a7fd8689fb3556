/**
 * A real single-node Kubernetes cluster for the harness: its own etcd and kube-apiserver (on the node's
 * bridge address, ServiceAccount admission on), kube-controller-manager, kube-scheduler, containerd 2 with
 * runc, the kubelet, kube-proxy (iptables mode), CoreDNS as a pod and, with `networkPolicy`, a NetworkPolicy
 * enforcer (kube-router's firewall, or kube-network-policies where the kernel can queue packets to it). One
 * node per machine; needs root.
 *
 * The network rule comes first: the node lives on a bridge the harness creates, and before anything else an
 * iptables rule rejects and counts every packet from the bridge to an address that is neither on the bridge
 * nor loopback. `stop()` fails when that count is not 0, or when anything of the node is left on the machine.
 * See REAL-COMPONENTS.md ("A real node") for why each setting is what it is.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { release } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { componentBinaries, nodeBinaries } from '../bins.js';
import { makeNodeCerts } from '../node/certs.js';
import {
  BUSYBOX_IMAGE,
  COREDNS_IMAGE,
  cniConfig,
  containerdConfig,
  corednsManifests,
  kubeletConfig,
  kubeProxyConfig,
  nodePaths,
  registryDefaultHosts,
  SANDBOX_IMAGE,
} from '../node/config.js';
import {
  cleanupHost,
  createBridge,
  egressRejected,
  type HostRecord,
  installEgressGuard,
  leftovers,
  NODE_ROOT,
  takeOverHost,
  writeSysctl,
} from '../node/host.js';
import { buildImageArchive, busyboxImage, corednsImage, sandboxImage } from '../node/images.js';
import { type NodeNetwork, nodeNetwork } from '../node/network.js';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';
import { waitUntil } from '../wait.js';
import { type KubeInstance, startKube } from './kube.js';

const run = promisify(execFile);
const ensureSystem = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../scripts/ensure-system.sh',
);

export const NODE_NAME = 'novapos-node';

export interface NodeInstance {
  readonly network: NodeNetwork;
  readonly nodeName: string;
  /** The node's own apiserver (https://<node IP>:PORT) with its admin kubeconfig and kubectl. */
  readonly kube: KubeInstance;
  /** What the machine looked like before the node started (for checks after stop). */
  readonly record: HostRecord;
  readonly processes: readonly ManagedProcess[];
  /** Images the node has without a registry: the sandbox, a static busybox, CoreDNS. */
  readonly images: { readonly busybox: string; readonly coredns: string; readonly sandbox: string };
  /** Seconds from start() until the node was Ready with CoreDNS serving. */
  readonly startSeconds: number;
  /** Runs kubectl with the admin kubeconfig. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
  /** Runs ctr against the node's containerd in the `k8s.io` namespace (the kubelet's). */
  ctr(args: readonly string[]): Promise<string>;
  /** Imports an image archive (OCI layout or docker save tar) into the node's containerd. */
  importImage(archive: string): Promise<void>;
  /** Packets from the bridge to anywhere but the bridge or loopback, rejected so far: must stay 0. */
  egressRejected(): number;
  logTails(lines?: number): string;
  /** Stops everything and puts the machine back; throws if a packet tried to leave or anything is left. */
  stop(): Promise<void>;
}

function get(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? https : http).get(
      url,
      { rejectUnauthorized: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

const ok = async (url: string) => (await get(url)) === 200;

function log(line: string): void {
  process.stderr.write(`[node] ${line}\n`);
}

/**
 * The NetworkPolicy enforcers the node can run beside kube-proxy:
 * - `kube-router`: kube-router's firewall alone (`--run-firewall`, no routing, no service proxy; test/bins/
 *   kube-router, `build.sh kube-router`): iptables chains and ipsets, which the host cleanup removes (stop,
 *   and a killed run's at the next start). Needs ipset and xt_set; runs on this project's machines.
 * - `kube-network-policies` (test/bins/netpol, `build.sh netpol`): nftables with the packets queued to it,
 *   which needs CONFIG_NFT_QUEUE (this project's machines lack it: see docs/adr/0006-networkpolicy-enforcer.md).
 */
export type NetworkPolicyEnforcer = 'kube-router' | 'kube-network-policies';

export interface NodeOptions {
  /** Enforce NetworkPolicy: `true` is kube-router (above). Default off. */
  readonly networkPolicy?: boolean | NetworkPolicyEnforcer;
}

const buildScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bins/build.sh');

/** The `KEY=` path `test/bins/build.sh what` prints (undefined when it prints none). */
function builtBinary(what: string, key: string): string | undefined {
  const out = execFileSync('bash', [buildScript, what], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  return out
    .split('\n')
    .find((l) => l.startsWith(`${key}=`))
    ?.slice(key.length + 1)
    .trim();
}

/**
 * kube-network-policies' binary: `netpol` builds it on first use (cached by version), `netpol-cached` only
 * finds one built before (undefined when none: then it never ran here).
 */
function netpolBinary(what: 'netpol' | 'netpol-cached'): string | undefined {
  const binary = builtBinary(what, 'NETPOL_BINARY');
  if (!binary && what === 'netpol') throw new Error('test/bins/build.sh netpol printed no NETPOL_BINARY');
  return binary;
}

/** kube-router's firewall binary (`build.sh kube-router` builds it on first use, cached by version). */
function kubeRouterBinary(): string {
  const binary = builtBinary('kube-router', 'KUBE_ROUTER_BINARY');
  if (!binary) throw new Error('test/bins/build.sh kube-router printed no KUBE_ROUTER_BINARY');
  return binary;
}

/** The kernel options each enforcer cannot do without (read from /proc/config.gz when the kernel has it). */
const ENFORCER_KERNEL: Record<NetworkPolicyEnforcer, readonly [string, string][]> = {
  // kube-network-policies queues packets with nftables' `queue` expression. Without it every rule sync fails
  // with "netlink receive: no such file or directory" and nothing is enforced (kernel 6.18 "-fc" here).
  'kube-network-policies': [['CONFIG_NFT_QUEUE', 'nftables queue expression']],
  // kube-router matches pods in ipsets, bridged packets with physdev, and logs drops with NFLOG.
  'kube-router': [
    ['CONFIG_IP_SET', 'ipset'],
    ['CONFIG_NETFILTER_XT_SET', 'the iptables set match'],
    ['CONFIG_NETFILTER_XT_MATCH_PHYSDEV', 'the iptables physdev match'],
    ['CONFIG_NETFILTER_XT_TARGET_NFLOG', 'the iptables NFLOG target'],
  ],
};

const enforcerOf = (opt: NodeOptions['networkPolicy']): NetworkPolicyEnforcer | undefined =>
  opt === true ? 'kube-router' : opt || undefined;

/** Why this machine's kernel cannot run `enforcer`, or undefined. */
export function networkPolicyUnsupported(
  enforcer: NetworkPolicyEnforcer = 'kube-router',
): string | undefined {
  if (!existsSync('/proc/config.gz')) return undefined;
  const config = gunzipSync(readFileSync('/proc/config.gz')).toString();
  const missing = ENFORCER_KERNEL[enforcer].filter(([opt]) => !new RegExp(`^${opt}=[ym]$`, 'm').test(config));
  if (!missing.length) return undefined;
  return `the kernel (${release()}) lacks ${missing.map(([opt, what]) => `${what} (${opt} is not set)`).join(', ')}: ${enforcer} cannot enforce NetworkPolicy here`;
}

/** Removes the enforcer's nftables table (idempotent), then fails if it is still there. */
async function cleanupNetpol(binary: string): Promise<void> {
  await run(binary, ['--cleanup'], { timeout: 30_000 });
  await run(binary, ['--check'], { timeout: 30_000 }).catch((e: { stdout?: string; message: string }) => {
    throw new Error(`the NetworkPolicy enforcer left state on the machine: ${e.stdout?.trim() || e.message}`);
  });
}

/**
 * kube-router's NetworkPolicy firewall alone: no BGP routing, no service proxy (kube-proxy keeps that), IPv4.
 * It keeps its chains first in filter's INPUT/FORWARD/OUTPUT (the egress guard is in mangle too, see host.ts).
 * Ready when its health endpoint answers and its top-level chain is in place.
 */
async function startKubeRouter(
  binary: string,
  o: { kubeconfig: string; net: NodeNetwork; healthPort: number; logDir: string },
): Promise<ManagedProcess> {
  const chainReady = () =>
    run('iptables', ['-w', '-t', 'filter', '-S', 'KUBE-ROUTER-FORWARD'], { timeout: 10_000 }).then(
      () => true,
      () => false,
    );
  return ManagedProcess.start(
    {
      name: 'kube-router',
      command: binary,
      args: [
        `--kubeconfig=${o.kubeconfig}`,
        `--hostname-override=${NODE_NAME}`,
        '--run-firewall=true',
        '--run-router=false',
        '--run-service-proxy=false',
        '--run-loadbalancer=false',
        '--enable-ipv4=true',
        '--enable-ipv6=false',
        `--service-cluster-ip-range=${o.net.serviceRange}`,
        `--health-port=${o.healthPort}`,
        '--v=1',
      ],
      // iptables, iptables-save/-restore and ipset from Debian.
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      ready: async () =>
        (await get(`http://127.0.0.1:${o.healthPort}/healthz`)) === 200 && (await chainReady()),
      readyTimeoutMs: 60_000,
    },
    o.logDir,
  );
}

/** Installs runc, the CNI plugins, iptables and busybox-static from Debian when missing. */
function ensureNodePackages(): void {
  execFileSync('bash', [ensureSystem, 'node'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * Starts the node. A node left by a killed run is cleaned up first; a node whose owner still runs is an
 * error (one per machine). Resolves once the node is Ready, the default ServiceAccount exists and CoreDNS
 * answers.
 */
export async function startNode(opts: NodeOptions = {}): Promise<NodeInstance> {
  const started = Date.now();
  ensureNodePackages();
  const enforcer = enforcerOf(opts.networkPolicy);
  const unsupported = enforcer ? networkPolicyUnsupported(enforcer) : undefined;
  if (unsupported) throw new Error(unsupported);
  const netpol = enforcer === 'kube-network-policies' ? netpolBinary('netpol') : undefined;
  const kubeRouter = enforcer === 'kube-router' ? kubeRouterBinary() : undefined;
  // Every node's start clears the table a killed enforcer left (with any enforcer built here before).
  const netpolCleaner = netpol ?? netpolBinary('netpol-cached');
  const { kubebuilderAssets } = componentBinaries('k8s');
  if (!kubebuilderAssets)
    throw new Error('no kube-apiserver binaries: test/bins/build.sh k8s printed nothing');
  const bins = nodeBinaries();
  const net = nodeNetwork();
  const { record, runDir } = await takeOverHost(net, {
    // kube-router's directory: a killed run's kube-router is ended by the next start like the kubelet.
    own: [
      bins.kubeNodeDir,
      bins.containerdDir,
      path.dirname(bins.corednsBinary),
      ...(kubeRouter ? [path.dirname(kubeRouter)] : []),
    ],
    shared: [kubebuilderAssets],
  });
  if (netpol) await cleanupNetpol(netpol);
  else if (netpolCleaner)
    await cleanupNetpol(netpolCleaner).catch((e: Error) =>
      log(`NetworkPolicy enforcer cleanup: ${e.message}`),
    );
  const paths = nodePaths(runDir);
  const logDir = path.join(runDir, 'logs');
  const procs: ManagedProcess[] = [];
  let kube: KubeInstance | undefined;

  const stopProcesses = async () => {
    // The kubelet first (it would restart what is stopped under it), then the rest, the apiserver last. A
    // short grace: nothing of theirs needs to be kept, and the host cleanup that follows ends the containers.
    const kubelet = procs.find((p) => p.name === 'kubelet');
    await kubelet?.stop(1_000);
    await Promise.all(procs.filter((p) => p !== kubelet).map((p) => p.stop(1_000)));
    // The apiserver drains for up to its 10 s grace; this cluster is about to be wiped.
    await kube?.apiserver.stop(1_000);
    await kube?.etcd.stop(1_000);
    await kube?.stop();
  };

  try {
    // 1. Nothing may leave the bridge: the guard goes in before the bridge exists.
    installEgressGuard(net, { enforcer: !!kubeRouter });
    createBridge(net);
    // Pods reach each other's Service addresses through the host: the DNATed packet is forwarded back onto
    // the bridge (and the bridge's traffic must pass iptables for kube-proxy's rules to apply).
    writeSysctl('net.ipv4.ip_forward', '1');
    writeSysctl('net.bridge.bridge-nf-call-iptables', '1');
    for (const d of [
      paths.certs,
      paths.cniConfDir,
      path.join(paths.registryHosts, '_default'),
      path.dirname(paths.kubeletConfig),
    ]) {
      mkdirSync(d, { recursive: true });
    }
    const certs = makeNodeCerts(paths.certs);

    // 2. The node's control plane: etcd on loopback, kube-apiserver on the bridge address.
    kube = await startKube(runDir, {
      address: net.nodeIp,
      serviceClusterIpRange: net.serviceRange,
      runsPods: true,
      crdDirs: [],
      extraArgs: [
        `--kubelet-client-certificate=${certs.apiserverKubeletClientCert}`,
        `--kubelet-client-key=${certs.apiserverKubeletClientKey}`,
        // Never the node's hostname: resolving it would ask the machine's resolver, off the machine.
        '--kubelet-preferred-address-types=InternalIP',
        // Webhooks and aggregated APIs by endpoint (a pod IP on the bridge): the host cannot reach ClusterIPs.
        '--enable-aggregator-routing=true',
      ],
    });
    const k = kube;
    const rootCa = path.join(paths.certs, 'apiserver-ca.crt');
    writeFileSync(rootCa, k.caCert);

    // 3. containerd, with the images the node runs imported before the kubelet asks for any.
    writeFileSync(paths.containerdConfig, containerdConfig(paths));
    writeFileSync(path.join(paths.registryHosts, '_default', 'hosts.toml'), registryDefaultHosts());
    writeFileSync(path.join(paths.cniConfDir, '10-novapos-node.conflist'), cniConfig(net, paths));
    const ctrBin = path.join(bins.containerdDir, 'ctr');
    const ctr = async (args: readonly string[]) =>
      (
        await run(ctrBin, ['--address', paths.containerdSocket, '--namespace', 'k8s.io', ...args], {
          timeout: 120_000,
          maxBuffer: 16 * 1024 * 1024,
        })
      ).stdout;
    const pathEnv = `${bins.containerdDir}:/usr/sbin:/usr/bin:/sbin:/bin`;
    procs.push(
      await ManagedProcess.start(
        {
          name: 'containerd',
          command: path.join(bins.containerdDir, 'containerd'),
          args: ['--config', paths.containerdConfig],
          env: { PATH: pathEnv },
          ready: async () => existsSync(paths.containerdSocket) && !!(await ctr(['version']).catch(() => '')),
          readyTimeoutMs: 60_000,
        },
        logDir,
      ),
    );
    const imageDir = path.join(runDir, 'images');
    mkdirSync(imageDir, { recursive: true });
    const importImage = async (archive: string) => {
      await ctr(['images', 'import', '--platform', 'linux/amd64', archive]);
    };
    for (const spec of [
      sandboxImage(SANDBOX_IMAGE),
      busyboxImage(BUSYBOX_IMAGE),
      corednsImage(COREDNS_IMAGE, bins.corednsBinary),
    ]) {
      await importImage(buildImageArchive(spec, imageDir));
    }

    // 4. The rest of the control plane and the node, all with the admin kubeconfig.
    const kubeconfig = k.kubeconfig;
    const bin = (name: string) => path.join(bins.kubeNodeDir, name);
    const [kcmPort, schedPort, kubeletHealthz, proxyHealthz, proxyMetrics, netpolMetrics, routerHealth] =
      await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
    writeFileSync(
      paths.kubeletConfig,
      kubeletConfig(net, paths, { healthzPort: kubeletHealthz, clientCaFile: certs.caCert }),
    );
    writeFileSync(
      paths.kubeProxyConfig,
      kubeProxyConfig(net, {
        kubeconfig,
        healthzPort: proxyHealthz,
        metricsPort: proxyMetrics,
        nodeName: NODE_NAME,
      }),
    );
    const saKey = path.join(runDir, 'kube', 'certs', 'sa.key');
    const started4 = await Promise.all([
      ManagedProcess.start(
        {
          name: 'kube-controller-manager',
          command: bin('kube-controller-manager'),
          args: [
            `--kubeconfig=${kubeconfig}`,
            '--bind-address=127.0.0.1',
            `--secure-port=${kcmPort}`,
            `--service-account-private-key-file=${saKey}`,
            `--root-ca-file=${rootCa}`,
            '--leader-elect=false',
            '--allocate-node-cidrs=false',
            `--cluster-name=${NODE_NAME}`,
            '--v=1',
          ],
          ready: () => ok(`https://127.0.0.1:${kcmPort}/healthz`),
          readyTimeoutMs: 60_000,
        },
        logDir,
      ),
      ManagedProcess.start(
        {
          name: 'kube-scheduler',
          command: bin('kube-scheduler'),
          args: [
            `--kubeconfig=${kubeconfig}`,
            '--bind-address=127.0.0.1',
            `--secure-port=${schedPort}`,
            '--leader-elect=false',
            '--v=1',
          ],
          ready: () => ok(`https://127.0.0.1:${schedPort}/healthz`),
          readyTimeoutMs: 60_000,
        },
        logDir,
      ),
      ManagedProcess.start(
        {
          name: 'kube-proxy',
          command: bin('kube-proxy'),
          args: [`--config=${paths.kubeProxyConfig}`, '--v=1'],
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
          ready: async () => (await get(`http://127.0.0.1:${proxyMetrics}/metrics`)) === 200,
          readyTimeoutMs: 60_000,
        },
        logDir,
      ),
      ManagedProcess.start(
        {
          name: 'kubelet',
          command: bin('kubelet'),
          args: [
            `--config=${paths.kubeletConfig}`,
            `--kubeconfig=${kubeconfig}`,
            `--root-dir=${paths.kubeletRoot}`,
            `--hostname-override=${NODE_NAME}`,
            `--node-ip=${net.nodeIp}`,
            '--v=1',
          ],
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
          ready: () => ok(`http://127.0.0.1:${kubeletHealthz}/healthz`),
          readyTimeoutMs: 60_000,
        },
        logDir,
      ),
      ...(netpol
        ? [
            ManagedProcess.start(
              {
                name: 'netpol',
                command: netpol,
                args: [
                  `--kubeconfig=${kubeconfig}`,
                  `--hostname-override=${NODE_NAME}`,
                  `--metrics-bind-address=127.0.0.1:${netpolMetrics}`,
                  '--v=1',
                ],
                ready: async () => (await get(`http://127.0.0.1:${netpolMetrics}/metrics`)) === 200,
                readyTimeoutMs: 60_000,
              },
              logDir,
            ),
          ]
        : []),
    ]);
    procs.push(...started4);

    // 5. Ready: the node, the default ServiceAccount (pods cannot be created before it), CoreDNS.
    await waitUntil(
      `node ${NODE_NAME} to be Ready`,
      async () =>
        (
          await k.kubectl([
            'get',
            'node',
            NODE_NAME,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ])
        ).trim() === 'True',
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    // kube-router reads its Node object at start: it runs once the node is registered.
    if (kubeRouter)
      procs.push(await startKubeRouter(kubeRouter, { kubeconfig, net, healthPort: routerHealth, logDir }));
    await waitUntil(
      'the default ServiceAccount in namespace default',
      async () => (await k.kubectl(['get', 'serviceaccount', 'default', '-o', 'name'])).includes('default'),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await k.kubectl(
      ['apply', '--server-side', '--field-manager=novapos-harness', '-f', '-'],
      corednsManifests(net)
        .map((m) => stringify(m))
        .join('---\n'),
    );
    await k.kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=90s']);

    const startSeconds = (Date.now() - started) / 1000;
    log(
      `node ${NODE_NAME} Ready on ${net.nodeIp} (${net.bridge}) with CoreDNS in ${startSeconds.toFixed(1)} s`,
    );
    let stopped = false;
    return {
      network: net,
      nodeName: NODE_NAME,
      kube: k,
      record,
      processes: procs,
      images: { busybox: BUSYBOX_IMAGE, coredns: COREDNS_IMAGE, sandbox: SANDBOX_IMAGE },
      startSeconds,
      kubectl: (args, input) => k.kubectl(args, input),
      ctr,
      importImage,
      egressRejected,
      logTails(lines = 30) {
        return [k.etcd, k.apiserver, ...procs]
          .map((p) => `--- ${p.name} (${p.logFile}) ---\n${p.logTail(lines)}`)
          .join('\n');
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        const rejected = egressRejected();
        const t0 = Date.now();
        await stopProcesses();
        const t1 = Date.now();
        await cleanupHost(record);
        if (netpol) await cleanupNetpol(netpol);
        log(
          `stopped: processes ${((t1 - t0) / 1000).toFixed(1)} s, host cleanup ${((Date.now() - t1) / 1000).toFixed(1)} s`,
        );
        const left = leftovers(record);
        if (left.length) throw new Error(`the node left state on the machine:\n  ${left.join('\n  ')}`);
        if (rejected > 0) {
          throw new Error(
            `${rejected} packet(s) from the node's bridge to an address off the bridge were rejected: the network rule was broken (see ${NODE_ROOT})`,
          );
        }
      },
    };
  } catch (err) {
    const tails = [kube?.etcd, kube?.apiserver, ...procs]
      .filter((p): p is ManagedProcess => !!p)
      .map((p) => `--- ${p.name} ---\n${p.logTail(25)}`)
      .join('\n');
    await stopProcesses().catch(() => {});
    await cleanupHost(record).catch((e: Error) => log(`cleanup after a failed start: ${e.message}`));
    if (netpol)
      await cleanupNetpol(netpol).catch((e: Error) => log(`cleanup after a failed start: ${e.message}`));
    throw new Error(`${(err as Error).message}\n${tails}`);
  }
}
