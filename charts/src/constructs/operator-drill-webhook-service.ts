import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import { selectorLabels } from './labels.js';

export interface OperatorDrillWebhookServiceProps {
  readonly name: string;
  readonly namespace: string;
  /** Default 8082. */
  readonly port?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * `<name>:8082`, where Alertmanager's `drill` receiver posts the synthetic alerts of DisasterRecoveryDrills.
 * Any replica may receive a delivery: it records it in Redis, where the leader's running drill reads it.
 * Labelled `component: drill-webhook`, so the metrics ServiceMonitor (component `operator`) does not pick it.
 */
export class OperatorDrillWebhookService extends Construct {
  constructor(scope: Construct, id: string, props: OperatorDrillWebhookServiceProps) {
    super(scope, id);
    new k8s.KubeService(this, 'Resource', {
      metadata: {
        name: props.name,
        namespace: props.namespace,
        labels: { ...props.labels, 'app.kubernetes.io/component': 'drill-webhook' },
      },
      spec: {
        type: 'ClusterIP',
        selector: selectorLabels(props.name),
        ports: [
          {
            name: 'drill-webhook',
            port: props.port ?? 8082,
            targetPort: k8s.IntOrString.fromString('drill-webhook'),
            protocol: 'TCP',
          },
        ],
      },
    });
  }
}
