/**
 * The operator's real network flows, and flows that must stay closed: the committed table the charts'
 * NetworkPolicies are evaluated against (network-policies.test.ts). The bridge CNI of the test node does not
 * enforce NetworkPolicy, so the policies are checked by evaluating them here (Kubernetes semantics: a
 * connection needs the source's egress and the destination's ingress to allow it, where a pod selected by
 * no policy of that direction allows everything).
 */

export interface PodEndpoint {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Pod IP, for ipBlock rules (the pod network 10.244.0.0/16). */
  readonly ip: string;
}
export interface ExternalEndpoint {
  /** Outside the pod network: the apiserver, an external Vault, the metadata service. */
  readonly ip: string;
}
export type Endpoint = PodEndpoint | ExternalEndpoint;

export interface Flow {
  readonly what: string;
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly port: number;
  readonly protocol?: 'TCP' | 'UDP';
  readonly allowed: boolean;
}

const pod = (namespace: string, labels: Record<string, string>, ip: string): PodEndpoint => ({
  namespace,
  labels,
  ip,
});

export const endpoints = {
  operator: pod(
    'novapos-system',
    { 'app.kubernetes.io/name': 'novapos-operator', 'app.kubernetes.io/component': 'operator' },
    '10.244.0.10',
  ),
  prometheus: pod('monitoring', { 'app.kubernetes.io/name': 'prometheus' }, '10.244.0.20'),
  alertmanager: pod('monitoring', { 'app.kubernetes.io/name': 'alertmanager' }, '10.244.0.21'),
  coredns: pod('kube-system', { 'k8s-app': 'kube-dns' }, '10.244.0.2'),
  kubeProxyLike: pod('kube-system', { 'k8s-app': 'something-else' }, '10.244.0.3'),
  vault: pod('vault', { 'app.kubernetes.io/name': 'vault' }, '10.244.0.30'),
  redis: pod('novapos', { 'app.kubernetes.io/name': 'redis' }, '10.244.0.40'),
  postgres: pod('novapos', { 'app.kubernetes.io/name': 'postgresql' }, '10.244.0.41'),
  authService: pod(
    'novapos',
    { 'app.kubernetes.io/name': 'auth-service', 'app.kubernetes.io/component': 'auth-service' },
    '10.244.0.50',
  ),
  gateway: pod(
    'novapos',
    { 'app.kubernetes.io/name': 'integration-gateway', 'app.kubernetes.io/component': 'gateway' },
    '10.244.0.51',
  ),
  auditService: pod(
    'novapos',
    { 'app.kubernetes.io/name': 'audit-service', 'app.kubernetes.io/component': 'audit-service' },
    '10.244.0.52',
  ),
  dbRolesJob: pod(
    'novapos',
    { 'app.kubernetes.io/name': 'novapos-db-roles', 'app.kubernetes.io/component': 'db-roles' },
    '10.244.0.53',
  ),
  teamPod: pod('team-x', { app: 'anything' }, '10.244.0.60'),
  kafkaBroker: pod('kafka', { 'app.kubernetes.io/name': 'kafka' }, '10.244.0.70'),
  upstream: pod('orders', { app: 'orders' }, '10.244.0.80'),
  apiserver: { ip: '172.18.0.2' },
  /** The kubelet probes from its node's address (the chart's default node network, 10.217.0.0/24). */
  kubelet: { ip: '10.217.0.1' },
  metadataService: { ip: '169.254.169.254' },
  /** A public address (TEST-NET-3: documentation only, never contacted). */
  publicHost: { ip: '203.0.113.10' },
} as const;

const e = endpoints;

export const operatorFlows: readonly Flow[] = [
  // What the operator really does.
  { what: 'Prometheus scrapes the operator', from: e.prometheus, to: e.operator, port: 8080, allowed: true },
  {
    what: 'Alertmanager posts a drill alert',
    from: e.alertmanager,
    to: e.operator,
    port: 8082,
    allowed: true,
  },
  { what: 'DNS over UDP', from: e.operator, to: e.coredns, port: 53, protocol: 'UDP', allowed: true },
  { what: 'DNS over TCP', from: e.operator, to: e.coredns, port: 53, allowed: true },
  { what: 'the apiserver', from: e.operator, to: e.apiserver, port: 6443, allowed: true },
  { what: 'Vault', from: e.operator, to: e.vault, port: 8200, allowed: true },
  { what: 'Redis (limits, drill faults)', from: e.operator, to: e.redis, port: 6379, allowed: true },
  { what: 'auth-service /keys/status', from: e.operator, to: e.authService, port: 8085, allowed: true },
  { what: 'gateway /keys/status', from: e.operator, to: e.gateway, port: 8083, allowed: true },
  { what: 'gateway POST /keys/reload (admin)', from: e.operator, to: e.gateway, port: 9083, allowed: true },
  {
    what: 'auth-service POST /keys/reload (admin)',
    from: e.operator,
    to: e.authService,
    port: 9085,
    allowed: true,
  },
  {
    what: "the drill's auditCatchUp pauses and resumes the audit-service consumer (admin port)",
    from: e.operator,
    to: e.auditService,
    port: 9087,
    allowed: true,
  },
  {
    what: 'a drill fires its alert at Alertmanager',
    from: e.operator,
    to: e.alertmanager,
    port: 9093,
    allowed: true,
  },
  // What stays closed.
  {
    what: 'a namespace pod reads operator metrics',
    from: e.teamPod,
    to: e.operator,
    port: 8080,
    allowed: false,
  },
  {
    what: 'a service forges a drill delivery',
    from: e.authService,
    to: e.operator,
    port: 8082,
    allowed: false,
  },
  { what: 'the operator reaches PostgreSQL', from: e.operator, to: e.postgres, port: 5432, allowed: false },
  {
    what: 'the operator reaches the audit-service on another port than its admin port',
    from: e.operator,
    to: e.auditService,
    port: 8087,
    allowed: false,
  },
  // The egress names each peer's pods and ports (issue 19): nothing else in those namespaces, no public address.
  {
    what: "the operator reaches another novapos pod on Redis's port",
    from: e.operator,
    to: e.postgres,
    port: 6379,
    allowed: false,
  },
  {
    what: "the operator reaches auth-service on the gateway's port",
    from: e.operator,
    to: e.authService,
    port: 8083,
    allowed: false,
  },
  {
    what: 'the operator reaches Prometheus (only Alertmanager in monitoring)',
    from: e.operator,
    to: e.prometheus,
    port: 9093,
    allowed: false,
  },
  {
    what: 'the operator reaches a public address on 443',
    from: e.operator,
    to: e.publicHost,
    port: 443,
    allowed: false,
  },
  {
    what: 'the operator reaches the metadata service',
    from: e.operator,
    to: e.metadataService,
    port: 80,
    allowed: false,
  },
  {
    what: 'the operator reaches another kube-system pod',
    from: e.operator,
    to: e.kubeProxyLike,
    port: 10250,
    allowed: false,
  },
  {
    what: 'the operator reaches Vault on another port',
    from: e.operator,
    to: e.vault,
    port: 8201,
    allowed: false,
  },
  {
    what: 'the operator reaches a namespace pod (SSRF)',
    from: e.operator,
    to: e.teamPod,
    port: 8080,
    allowed: false,
  },
  // The gateway's own policy (services chart): API open, admin port only to monitoring and the operator.
  { what: 'a client calls the gateway API', from: e.teamPod, to: e.gateway, port: 8083, allowed: true },
  {
    what: 'a namespace pod calls the gateway admin port',
    from: e.teamPod,
    to: e.gateway,
    port: 9083,
    allowed: false,
  },
];

/** The services' flows (services chart). */
export const serviceFlows: readonly Flow[] = [
  // auth-service
  { what: 'a client logs in at auth-service', from: e.teamPod, to: e.authService, port: 8085, allowed: true },
  {
    what: 'Prometheus scrapes auth-service (admin)',
    from: e.prometheus,
    to: e.authService,
    port: 9085,
    allowed: true,
  },
  {
    what: 'a namespace pod calls auth-service admin',
    from: e.teamPod,
    to: e.authService,
    port: 9085,
    allowed: false,
  },
  {
    what: 'auth-service resolves names',
    from: e.authService,
    to: e.coredns,
    port: 53,
    protocol: 'UDP',
    allowed: true,
  },
  { what: 'auth-service reads Vault', from: e.authService, to: e.vault, port: 8200, allowed: true },
  { what: 'auth-service uses PostgreSQL', from: e.authService, to: e.postgres, port: 5432, allowed: true },
  { what: 'auth-service uses Redis (sessions)', from: e.authService, to: e.redis, port: 6379, allowed: true },
  { what: 'auth-service writes Kafka', from: e.authService, to: e.kafkaBroker, port: 9092, allowed: true },
  {
    what: 'auth-service reaches the metadata service',
    from: e.authService,
    to: e.metadataService,
    port: 80,
    allowed: false,
  },
  {
    what: 'auth-service reaches a namespace pod',
    from: e.authService,
    to: e.teamPod,
    port: 8080,
    allowed: false,
  },
  {
    what: 'the operator notifies auth-service on its admin port',
    from: e.operator,
    to: e.authService,
    port: 9085,
    allowed: true,
  },
  // integration-gateway
  { what: 'the gateway fetches the JWKS', from: e.gateway, to: e.authService, port: 8085, allowed: true },
  {
    what: 'the gateway resolves names',
    from: e.gateway,
    to: e.coredns,
    port: 53,
    protocol: 'UDP',
    allowed: true,
  },
  { what: 'the gateway uses Redis (limits)', from: e.gateway, to: e.redis, port: 6379, allowed: true },
  {
    what: 'the gateway reads API keys in PostgreSQL',
    from: e.gateway,
    to: e.postgres,
    port: 5432,
    allowed: true,
  },
  { what: 'the gateway writes Kafka', from: e.gateway, to: e.kafkaBroker, port: 9092, allowed: true },
  { what: 'the gateway proxies to the upstream', from: e.gateway, to: e.upstream, port: 8080, allowed: true },
  { what: 'the gateway reaches Vault', from: e.gateway, to: e.vault, port: 8200, allowed: false },
  // The kubelet's probes (/healthz, /readyz) on each service's admin port, from the node's address.
  {
    what: 'the kubelet probes auth-service (admin)',
    from: e.kubelet,
    to: e.authService,
    port: 9085,
    allowed: true,
  },
  {
    what: 'the kubelet probes the gateway (admin)',
    from: e.kubelet,
    to: e.gateway,
    port: 9083,
    allowed: true,
  },
  {
    what: 'the kubelet probes the audit-service (admin)',
    from: e.kubelet,
    to: e.auditService,
    port: 9087,
    allowed: true,
  },
  // audit-service: its admin port only to monitoring, the operator and the kubelet.
  {
    what: 'Prometheus scrapes the audit-service',
    from: e.prometheus,
    to: e.auditService,
    port: 9087,
    allowed: true,
  },
  {
    what: 'a namespace pod calls the audit-service admin port',
    from: e.teamPod,
    to: e.auditService,
    port: 9087,
    allowed: false,
  },
  {
    what: 'the audit-service reads Kafka',
    from: e.auditService,
    to: e.kafkaBroker,
    port: 9092,
    allowed: true,
  },
  {
    what: 'the audit-service uses PostgreSQL',
    from: e.auditService,
    to: e.postgres,
    port: 5432,
    allowed: true,
  },
  {
    what: 'the audit-service fetches the JWKS',
    from: e.auditService,
    to: e.authService,
    port: 8085,
    allowed: true,
  },
  {
    what: 'the audit-service resolves names',
    from: e.auditService,
    to: e.coredns,
    port: 53,
    protocol: 'UDP',
    allowed: true,
  },
  { what: 'the audit-service reaches Redis', from: e.auditService, to: e.redis, port: 6379, allowed: false },
  {
    what: 'the audit-service signs chain heads in Vault',
    from: e.auditService,
    to: e.vault,
    port: 8200,
    allowed: true,
  },
  {
    what: 'the audit-service reaches the metadata service',
    from: e.auditService,
    to: e.metadataService,
    port: 80,
    allowed: false,
  },
  // The role bootstrap Job: PostgreSQL and DNS only.
  { what: 'the db-roles Job uses PostgreSQL', from: e.dbRolesJob, to: e.postgres, port: 5432, allowed: true },
  {
    what: 'the db-roles Job reaches Kafka',
    from: e.dbRolesJob,
    to: e.kafkaBroker,
    port: 9092,
    allowed: false,
  },
  {
    what: 'a namespace pod reaches the db-roles Job',
    from: e.teamPod,
    to: e.dbRolesJob,
    port: 8080,
    allowed: false,
  },
  {
    what: 'the gateway reaches the metadata service',
    from: e.gateway,
    to: e.metadataService,
    port: 80,
    allowed: false,
  },
];
