import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { AuthService } from './constructs/auth-service.js';
import { IntegrationGateway } from './constructs/integration-gateway.js';
import { OperatorNamespace } from './constructs/operator-namespace.js';
import {
  DNS_EGRESS,
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
  };
}

/**
 * The two NovaPOS services the operator drives: auth-service (signs with the operator-managed key) and the
 * integration-gateway (verifies through auth-service's JWKS, limits per tenant from Redis). Database and
 * Redis URLs come from Secrets the platform provides (`auth-service-database`, `integration-gateway-redis`).
 */
export class ServicesChart extends Chart {
  constructor(scope: Construct, id: string, props: ServicesChartProps = {}) {
    super(scope, id, props);
    const namespace = props.namespace ?? 'novapos';
    const version = props.version ?? '0.1.0';
    new OperatorNamespace(this, 'Namespace', {
      name: namespace,
      labels: { 'app.kubernetes.io/part-of': 'novapos-security' },
    });
    const auth = new AuthService(this, 'AuthService', {
      namespace,
      image: `ghcr.io/novapos/auth-service:${version}`,
      vaultAddress: props.vaultAddress ?? 'http://vault.vault.svc:8200',
      signingKeysetPath: signingKeyTree(props.signingKeyRotation ?? AUTH_SIGNING_KEY_ROTATION),
    });
    const net = props.network ?? {};
    const anywhere: NetworkPeer = { cidrs: ['0.0.0.0/0'] };
    const to = (peer: NetworkPeer | undefined, ports: number[]): NetworkFlowRule => ({
      peers: [peer ?? anywhere],
      ports,
    });
    const adminClients = [net.monitoringNamespace ?? 'monitoring', net.operatorNamespace ?? 'novapos-system'];
    // auth-service: its API (login, JWKS for the gateway, /keys/status for the operator) is open; its admin
    // port only to monitoring and the operator; out only to DNS, Vault, PostgreSQL, Redis and Kafka.
    new ServiceNetworkPolicy(this, 'AuthServiceNetworkPolicy', {
      name: auth.name,
      namespace,
      podSelector: { 'app.kubernetes.io/name': auth.name, 'app.kubernetes.io/component': 'auth-service' },
      ingress: [{ ports: [8085] }, { peers: adminClients.map((ns) => ({ namespace: ns })), ports: [9085] }],
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
      databaseUrlSecret: { name: 'auth-service-database', key: 'DATABASE_URL' },
      // Prometheus (infra/) selects ServiceMonitors by this label.
      labels: { 'app.kubernetes.io/part-of': 'novapos-security' },
    });
  }
}
