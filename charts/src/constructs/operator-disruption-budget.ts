import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import { selectorLabels } from './labels.js';

export interface OperatorDisruptionBudgetProps {
  readonly name: string;
  readonly namespace: string;
  /** Default 1: a node drain never takes both replicas at once. */
  readonly minAvailable?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

export class OperatorDisruptionBudget extends Construct {
  constructor(scope: Construct, id: string, props: OperatorDisruptionBudgetProps) {
    super(scope, id);
    new k8s.KubePodDisruptionBudget(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        minAvailable: k8s.IntOrString.fromNumber(props.minAvailable ?? 1),
        selector: { matchLabels: selectorLabels(props.name) },
      },
    });
  }
}
