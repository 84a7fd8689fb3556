import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { AuditService } from './constructs/audit-service.js';
import { AuthService } from './constructs/auth-service.js';
import { DbRolesJob, type DbRolesJobProps } from './constructs/db-roles-job.js';
import { IntegrationGateway } from './constructs/integration-gateway.js';
import { OperatorNamespace } from './constructs/operator-namespace.js';
import {
  DNS_EGRESS,
  kubeletProbes,
  type NetworkFlowRule,
  type NetworkPeer,
  ServiceNetworkPolicy,
} from './constructs/service-network-policy.js';
import { AUTH_SIGNING_KEY_ROTATION, signingKeyTree } from './signing-keys.js';

export interface ServicesChartProps extends ChartProps {
  /** Default `novapos`. */
  readonly namespace?: string;
  /** Default `0.1.0`; the images are `ghcr.io/novapos/<service>:<version>`. */
  readonly version?: string;
  /** Default `http://vault.vault.svc:8200`. */
  readonly vaultAddress?: string;
  /**
   * The SigningKeyRotation (`<namespace>/<name>`) whose keys auth-service signs with. Default `novapos/auth`,
   * the one examples/ creates and the Vault policy grants (signing-keys.ts).
   */
  readonly signingKeyRotation?: string;
  /**
   * Where the services' egress may go (issue 19: NetworkPolicies for every real flow). Defaults: Vault in
   * namespace `vault` (8200); PostgreSQL (5432), Redis (6379) and Kafka (9092) anywhere on those ports only
   * (narrow with `cidrs` or a namespace); the gateway's upstream anywhere on 80, 443 and 8080. Link-local
   * addresses (the cloud metadata service) are always excepted.
   */
  readonly network?: {
    readonly vault?: NetworkPeer;
    readonly postgres?: NetworkPeer;
    readonly redis?: NetworkPeer;
    readonly kafka?: NetworkPeer;
    readonly upstream?: { readonly peer?: NetworkPeer; readonly ports?: readonly number[] };
    readonly monitoringNamespace?: string;
    readonly operatorNamespace?: string;
    /**
     * The nodes' address blocks: the kubelet probes each service's `/healthz` and `/readyz` on its admin port
     * from the node's own address, which no namespace selector matches. Default `10.217.0.1/32` (the project's
     * test node's address: its pods share its /24); set the cluster's node subnets (docs/operator-access.md,
     * "Network"). `[]`: no rule (a CNI that always admits a pod's own node, as the NetworkPolicy
     * specification says, needs none). Never a block that holds the pod network: the admin ports would open
     * to every pod.
     */
    readonly nodeCidrs?: readonly string[];
  };
  /**
   * `KAFKA_BOOTSTRAP` of the three services; default `kafka.kafka.svc:9092`. Each logs in as its own principal
   * with the password in Secret `<service>-kafka` (key `KAFKA_PASSWORD`).
   */
  readonly kafkaBootstrap?: string;
  /** audit-service options (constructs/audit-service.ts): signed heads, the admin token, retention. */
  readonly audit?: {
    /** Vault Kubernetes auth role of the chain-head signer; default `audit-service`. */
    readonly vaultRole?: string;
    readonly adminTokenSecretName?: string;
    readonly retentionDays?: number;
  };
}

/**
 * The project's test node (test/harness/components/node.ts, bridge novapos0): its kubelet's address alone. Not
 * the bridge's /24, which holds the node's pods: with it every pod reached the admin ports (seen with packets
 * by test/cluster/network-policy.int.test.ts).
 */
export const DEFAULT_NODE_CIDRS: readonly string[] = ['10.217.0.1/32'];

/** The Secrets the role Job reads: an admin connection and the role's password, for each role it makes. */
export const DB_ROLE_SECRETS = {
  gateway: {
    adminUrl: { name: 'novapos-db-admin', key: 'DATABASE_ADMIN_URL' },
    password: { name: 'integration-gateway-db-role', key: 'GATEWAY_DB_PASSWORD' },
  },
  audit: {
    adminUrl: { name: 'audit-service-database', key: 'DATABASE_ADMIN_URL' },
    password: { name: 'audit-service-db-role', key: 'AUDIT_DB_PASSWORD' },
  },
} as const satisfies Pick<DbRolesJobProps, 'gateway' | 'audit'>;

/**
 * The NovaPOS services: auth-service (signs with the operator-managed key), the integration-gateway
 * (verifies through auth-service's JWKS, limits per tenant from Redis), the audit-service (chains the
 * security events from Kafka), and the Job that creates the gateway's and the audit-service's PostgreSQL
 * roles. Connection strings and passwords come from Secrets the platform provides (docs/auth-service.md, docs/audit-service.md):
 * `auth-service-database`, `integration-gateway-database`, `integration-gateway-redis`,
 * `audit-service-database`, the Kafka passwords `auth-service-kafka`, `integration-gateway-kafka` and
 * `audit-service-kafka`, and for the Job `novapos-db-admin`,
 * `integration-gateway-db-role`, `audit-service-db-role`.
 */
export class ServicesChart extends Chart {
  constructor(scope: Construct, id: string, props: ServicesChartProps = {}) {
    super(scope, id, props);
    const namespace = props.namespace ?? 'novapos';
    const version = props.version ?? '0.1.0';
    const vaultAddress = props.vaultAddress ?? 'http://vault.vault.svc:8200';
    new OperatorNamespace(this, 'Namespace', {
      name: namespace,
      labels: { 'app.kubernetes.io/part-of': 'novapos-security' },
    });
    const kafkaBootstrap = props.kafkaBootstrap ?? 'kafka.kafka.svc:9092';
    const auth = new AuthService(this, 'AuthService', {
      namespace,
      image: `ghcr.io/novapos/auth-service:${version}`,
      kafka: { bootstrap: kafkaBootstrap, secretName: 'auth-service-kafka' },
      vaultAddress,
      signingKeysetPath: signingKeyTree(props.signingKeyRotation ?? AUTH_SIGNING_KEY_ROTATION),
    });
    const net = props.network ?? {};
    const anywhere: NetworkPeer = { cidrs: ['0.0.0.0/0'] };
    const to = (peer: NetworkPeer | undefined, ports: number[]): NetworkFlowRule => ({
      peers: [peer ?? anywhere],
      ports,
    });
    const adminClients = [net.monitoringNamespace ?? 'monitoring', net.operatorNamespace ?? 'novapos-system'];
    const nodeCidrs = net.nodeCidrs ?? DEFAULT_NODE_CIDRS;
    // auth-service: its API (login, JWKS for the gateway, /keys/status for the operator) is open; its admin
    // port only to monitoring, the operator and the kubelet (probes); out only to DNS, Vault, PostgreSQL,
    // Redis and Kafka.
    new ServiceNetworkPolicy(this, 'AuthServiceNetworkPolicy', {
      name: auth.name,
      namespace,
      podSelector: { 'app.kubernetes.io/name': auth.name, 'app.kubernetes.io/component': 'auth-service' },
      ingress: [
        { ports: [8085] },
        { peers: adminClients.map((ns) => ({ namespace: ns })), ports: [9085] },
        ...kubeletProbes(nodeCidrs, 9085),
      ],
      egress: [
        DNS_EGRESS,
        to(net.vault ?? { namespace: 'vault' }, [8200]),
        to(net.postgres, [5432]),
        to(net.redis, [6379]),
        to(net.kafka, [9092]),
      ],
    });
    // The gateway's ingress policy is its own construct's; this one closes its egress to its real flows:
    // DNS, auth-service's JWKS, Redis (limits), PostgreSQL (API keys), Kafka, the upstream.
    new ServiceNetworkPolicy(this, 'IntegrationGatewayEgressPolicy', {
      name: 'integration-gateway-egress',
      namespace,
      podSelector: {
        'app.kubernetes.io/name': 'integration-gateway',
        'app.kubernetes.io/component': 'gateway',
      },
      egress: [
        DNS_EGRESS,
        {
          peers: [{ namespace, podLabels: { 'app.kubernetes.io/name': auth.name } }],
          ports: [8085],
        },
        to(net.redis, [6379]),
        to(net.postgres, [5432]),
        to(net.kafka, [9092]),
        to(net.upstream?.peer, [...(net.upstream?.ports ?? [80, 443, 8080])]),
      ],
    });
    new IntegrationGateway(this, 'IntegrationGateway', {
      namespace,
      image: `ghcr.io/novapos/integration-gateway:${version}`,
      jwksUrl: `http://${auth.name}.${namespace}.svc:8085/.well-known/jwks.json`,
      redisUrlSecret: { name: 'integration-gateway-redis', key: 'REDIS_URL' },
      // Its own role (the Job below makes it): reads the API-key view, never auth-service's tables.
      databaseUrlSecret: { name: 'integration-gateway-database', key: 'DATABASE_URL' },
      kafka: { bootstrap: kafkaBootstrap, secretName: 'integration-gateway-kafka' },
      adminClientNamespaces: adminClients,
      probeSourceCidrs: nodeCidrs,
      // Prometheus (infra/) selects ServiceMonitors by this label.
      labels: { 'app.kubernetes.io/part-of': 'novapos-security' },
    });

    const audit = new AuditService(this, 'AuditService', {
      namespace,
      image: `ghcr.io/novapos/audit-service:${version}`,
      kafkaBootstrap,
      kafkaSecretName: 'audit-service-kafka',
      jwksUrl: `http://${auth.name}.${namespace}.svc:8085/.well-known/jwks.json`,
      adminTokenSecretName: props.audit?.adminTokenSecretName,
      retentionDays: props.audit?.retentionDays,
      vaultAddress,
      vaultRole: props.audit?.vaultRole,
    });
    // audit-service: nothing but its admin port, to monitoring, the operator (the drill's pause/resume) and
    // the kubelet; out to DNS, PostgreSQL, Kafka, auth-service's JWKS and Vault (signed chain heads).
    new ServiceNetworkPolicy(this, 'AuditServiceNetworkPolicy', {
      name: audit.name,
      namespace,
      podSelector: audit.selector,
      ingress: [
        { peers: adminClients.map((ns) => ({ namespace: ns })), ports: [audit.adminPort] },
        ...kubeletProbes(nodeCidrs, audit.adminPort),
      ],
      egress: [
        DNS_EGRESS,
        to(net.postgres, [5432]),
        to(net.kafka, [9092]),
        { peers: [{ namespace, podLabels: { 'app.kubernetes.io/name': auth.name } }], ports: [8085] },
        to(net.vault ?? { namespace: 'vault' }, [8200]),
      ],
    });

    const roles = new DbRolesJob(this, 'DbRoles', {
      namespace,
      image: `ghcr.io/novapos/db-roles:${version}`,
      ...DB_ROLE_SECRETS,
    });
    // The Job takes no connection and reaches only DNS and PostgreSQL.
    new ServiceNetworkPolicy(this, 'DbRolesNetworkPolicy', {
      name: 'novapos-db-roles',
      namespace,
      podSelector: roles.selector,
      ingress: [],
      egress: [DNS_EGRESS, to(net.postgres, [5432])],
    });
  }
}
