/**
 * The configuration files of the harness's Kubernetes node, as pure functions of its paths and addresses.
 * Every choice here keeps the node's traffic on the bridge and its files under the run directory
 * (REAL-COMPONENTS.md, "A real node").
 */
import { stringify } from 'yaml';
import type { NodeNetwork } from './network.js';

/** Images the node runs without a registry: imported into containerd before the kubelet starts. */
export const SANDBOX_IMAGE = 'novapos.local/pause:1';
export const BUSYBOX_IMAGE = 'novapos.local/busybox:1';
export const COREDNS_IMAGE = 'novapos.local/coredns:1';

export interface NodePaths {
  readonly run: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly containerdConfig: string;
  readonly registryHosts: string;
  readonly cniConfDir: string;
  readonly cniIpamDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly volumePluginDir: string;
  readonly podLogsDir: string;
  readonly kubeProxyConfig: string;
  readonly certs: string;
}

export function nodePaths(run: string): NodePaths {
  const p = (...parts: string[]) => [run, ...parts].join('/');
  return {
    run,
    containerdRoot: p('containerd', 'root'),
    containerdState: p('containerd', 'state'),
    containerdSocket: p('containerd', 'containerd.sock'),
    containerdConfig: p('containerd', 'config.toml'),
    registryHosts: p('containerd', 'certs.d'),
    cniConfDir: p('cni', 'net.d'),
    cniIpamDir: p('cni', 'ipam'),
    kubeletRoot: p('kubelet'),
    kubeletConfig: p('config', 'kubelet.yaml'),
    volumePluginDir: p('kubelet-plugins', 'volume'),
    podLogsDir: p('pod-logs'),
    kubeProxyConfig: p('config', 'kube-proxy.yaml'),
    certs: p('certs'),
  };
}

const q = (s: string) => JSON.stringify(s);

/** containerd 2.4 (config version 4: the servers are plugins). */
export function containerdConfig(paths: NodePaths): string {
  return `version = 4
root = ${q(paths.containerdRoot)}
state = ${q(paths.containerdState)}
temp = ${q(`${paths.run}/containerd/tmp`)}
# NRI would create /run/nri; /opt/containerd would be created by the opt plugin; no tracing exporter.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[debug]
  level = "info"

[plugins]
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "overlayfs"
    [plugins."io.containerd.cri.v1.images".pinned_images]
      sandbox = ${q(SANDBOX_IMAGE)}
    # Every registry resolves to a closed loopback port: an image that was not imported fails to pull
    # instead of reaching out.
    [plugins."io.containerd.cri.v1.images".registry]
      config_path = ${q(paths.registryHosts)}

  [plugins."io.containerd.cri.v1.runtime"]
    enable_selinux = false
    disable_apparmor = true
    # The machine's root lacks CAP_SYS_RESOURCE: never ask for an OOM score below containerd's own.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    cdi_spec_dirs = []
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = ${q(paths.cniConfDir)}
    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          Root = ${q(`${paths.run}/containerd/runc`)}
          SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"

  [plugins."io.containerd.server.v1.grpc"]
    address = ${q(paths.containerdSocket)}

  [plugins."io.containerd.server.v1.ttrpc"]
    address = ${q(`${paths.containerdSocket}.ttrpc`)}

  [plugins."io.containerd.server.v1.debug"]
    address = ""

  [plugins."io.containerd.server.v1.metrics"]
    address = ""

  [plugins."io.containerd.transfer.v1.local"]
    config_path = ${q(paths.registryHosts)}
`;
}

/** certs.d/_default/hosts.toml: any registry is a closed port on loopback. */
export function registryDefaultHosts(): string {
  return 'server = "http://127.0.0.1:9"\n\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n';
}

/** The pods' network: the CNI bridge plugin on the harness's bridge, no masquerading, host-local IPAM. */
export function cniConfig(net: NodeNetwork, paths: NodePaths): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'novapos-node',
      plugins: [
        {
          type: 'bridge',
          bridge: net.bridge,
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: paths.cniIpamDir,
            ranges: [
              [
                {
                  subnet: net.subnet,
                  rangeStart: net.podRangeStart,
                  rangeEnd: net.podRangeEnd,
                  gateway: net.nodeIp,
                },
              ],
            ],
          },
        },
      ],
    },
    null,
    2,
  );
}

export interface KubeletOptions {
  readonly healthzPort: number;
  readonly clientCaFile: string;
}

export function kubeletConfig(net: NodeNetwork, paths: NodePaths, opts: KubeletOptions): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: net.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: opts.healthzPort,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: opts.clientCaFile },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    // This kernel mounts cgroup v1 hierarchies plus a v2 mount (hybrid): kubelet 1.36 refuses v1 unless told.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    // The machine's root cannot lower OOM scores (no CAP_SYS_RESOURCE).
    oomScoreAdj: 0,
    clusterDNS: [net.dnsIp],
    clusterDomain: 'cluster.local',
    // Pods with dnsPolicy Default get no nameserver at all: nothing may resolve through the machine's.
    resolvConf: '',
    volumePluginDir: paths.volumePluginDir,
    podLogsDir: paths.podLogsDir,
    // A test machine's disk and memory: evict only when really short, and never collect imported images
    // (they cannot be pulled again).
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'nodefs.inodesFree': '1%',
      'imagefs.available': '1%',
      'imagefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    maxPods: 110,
    registerNode: true,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    shutdownGracePeriod: '0s',
    shutdownGracePeriodCriticalPods: '0s',
    nodeStatusUpdateFrequency: '2s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    logging: { format: 'text' },
  });
}

export interface KubeProxyOptions {
  readonly kubeconfig: string;
  readonly healthzPort: number;
  readonly metricsPort: number;
  readonly nodeName: string;
}

export function kubeProxyConfig(net: NodeNetwork, opts: KubeProxyOptions): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: opts.kubeconfig },
    hostnameOverride: opts.nodeName,
    bindAddress: net.nodeIp,
    healthzBindAddress: `127.0.0.1:${opts.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${opts.metricsPort}`,
    mode: 'iptables',
    clusterCIDR: net.subnet,
    detectLocalMode: 'ClusterCIDR',
    // NodePorts answer on the bridge only, never on the machine's own interfaces or loopback.
    nodePortAddresses: [net.subnet],
    iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: '30s', minSyncPeriod: '0s' },
    // Conntrack settings that touch no sysctl.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    oomScoreAdj: 0,
  });
}

/** CoreDNS's answers: the cluster's names and nothing else (no forward plugin is even built in). */
export function corefile(): string {
  return `.:53 {
    errors
    health {
        lameduck 2s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        ttl 30
    }
    cache 30
    loadbalance
    reload
}
`;
}

/** CoreDNS as a Deployment in kube-system behind the kube-dns Service at `net.dnsIp`, as kubeadm installs it. */
export function corednsManifests(net: NodeNetwork): Record<string, unknown>[] {
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        {
          apiGroups: [''],
          resources: ['endpoints', 'services', 'pods', 'namespaces'],
          verbs: ['list', 'watch'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'coredns', namespace: 'kube-system' },
      data: { Corefile: corefile() },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'coredns',
            priorityClassName: 'system-cluster-critical',
            dnsPolicy: 'Default',
            terminationGracePeriodSeconds: 2,
            containers: [
              {
                name: 'coredns',
                image: COREDNS_IMAGE,
                imagePullPolicy: 'Never',
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                ],
                resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 },
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
                },
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
      spec: {
        selector: labels,
        clusterIP: net.dnsIp,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
  ];
}
