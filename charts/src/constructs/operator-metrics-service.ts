import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import { selectorLabels } from './labels.js';

export interface OperatorMetricsServiceProps {
  readonly name: string;
  readonly namespace: string;
  /** Default 8080. */
  readonly port?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/** ClusterIP Service in front of every replica's /metrics (the standby's too: its leader gauge is 0). */
export class OperatorMetricsService extends Construct {
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: OperatorMetricsServiceProps) {
    super(scope, id);
    this.serviceName = `${props.name}-metrics`;
    new k8s.KubeService(this, 'Resource', {
      metadata: { name: this.serviceName, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        type: 'ClusterIP',
        selector: selectorLabels(props.name),
        ports: [
          {
            name: 'metrics',
            port: props.port ?? 8080,
            targetPort: k8s.IntOrString.fromString('metrics'),
            protocol: 'TCP',
          },
        ],
      },
    });
  }
}
