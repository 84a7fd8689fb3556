import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';

export interface OperatorNamespaceProps {
  /** The namespace's name. */
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The operator's namespace, with the `restricted` Pod Security Standard enforced. */
export class OperatorNamespace extends Construct {
  constructor(scope: Construct, id: string, props: OperatorNamespaceProps) {
    super(scope, id);
    new k8s.KubeNamespace(this, 'Resource', {
      metadata: {
        name: props.name,
        labels: {
          ...props.labels,
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    });
  }
}
