import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { AuthService } from './constructs/auth-service.js';
import { IntegrationGateway } from './constructs/integration-gateway.js';
import { OperatorNamespace } from './constructs/operator-namespace.js';

export interface ServicesChartProps extends ChartProps {
  /** Default `novapos`. */
  readonly namespace?: string;
  /** Default `0.1.0`; the images are `ghcr.io/novapos/<service>:<version>`. */
  readonly version?: string;
  /** Default `http://vault.vault.svc:8200`. */
  readonly vaultAddress?: string;
  /** The SigningKeyRotation whose keys auth-service signs with. Default `novapos/auth-issuer`. */
  readonly signingKeyRotation?: string;
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
      signingKeysetPath: `secret/novapos/signing-keys/${props.signingKeyRotation ?? 'novapos/auth-issuer'}`,
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
