import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';

export interface OperatorFingerprintKeyProps {
  /** Default `novapos-promotion-fingerprint-key` (the operator's default name). */
  readonly name?: string;
  readonly namespace: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * The SecretPromotion fingerprint (HMAC) key Secret, created empty: the operator may get and update it by
 * name but not create Secrets, and the first replica fills it with a random key and makes it immutable
 * (operator/src/adapters/hmac-key). The key itself is never in the chart. Re-applying the chart leaves the
 * filled data alone (it has no `data` field to apply).
 */
export class OperatorFingerprintKey extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, props: OperatorFingerprintKeyProps) {
    super(scope, id);
    this.name = props.name ?? 'novapos-promotion-fingerprint-key';
    new k8s.KubeSecret(this, 'Secret', {
      metadata: {
        name: this.name,
        namespace: props.namespace,
        labels: { ...props.labels, 'app.kubernetes.io/component': 'secret-promotion' },
        annotations: {
          'security.novapos.io/purpose':
            'HMAC key for SecretPromotion plan fingerprints, filled once by the operator; replacing it makes every plan look changed',
        },
      },
      type: 'Opaque',
    });
  }
}
