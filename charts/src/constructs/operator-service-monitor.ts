import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

export interface OperatorServiceMonitorProps {
  readonly name: string;
  readonly namespace: string;
  /** Labels of the metrics Service to select. */
  readonly serviceLabels: Readonly<Record<string, string>>;
  /** Default `30s`. */
  readonly interval?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** prometheus-operator ServiceMonitor (monitoring.coreos.com/v1) scraping the metrics Service. */
export class OperatorServiceMonitor extends Construct {
  constructor(scope: Construct, id: string, props: OperatorServiceMonitorProps) {
    super(scope, id);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        selector: { matchLabels: { ...props.serviceLabels } },
        namespaceSelector: { matchNames: [props.namespace] },
        endpoints: [{ port: 'metrics', path: '/metrics', interval: props.interval ?? '30s' }],
      },
    });
  }
}
