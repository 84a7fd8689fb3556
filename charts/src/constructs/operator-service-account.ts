import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';

export interface OperatorServiceAccountProps {
  readonly name: string;
  readonly namespace: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * The operator's identity: the apiserver authorizes it through the RBAC below, and Vault's Kubernetes auth
 * method accepts its projected token for the operator's Vault role.
 */
export class OperatorServiceAccount extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, props: OperatorServiceAccountProps) {
    super(scope, id);
    this.name = props.name;
    new k8s.KubeServiceAccount(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      // The token is mounted by the Deployment itself (it needs it), not for every pod using this account.
      automountServiceAccountToken: false,
    });
  }
}
