import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';

export interface OperatorRbacProps {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccountName: string;
  /** API group of the operator's kinds. Default `security.novapos.io`. */
  readonly apiGroup?: string;
  /** Plural resource names of the operator's kinds (`signingkeyrotations`, ...). */
  readonly resources: readonly string[];
  /** Namespaces whose DisasterRecoveryDrills keep their synthetic tenant's credentials Secret. Default none. */
  readonly drillNamespaces?: readonly string[];
  /**
   * Names of the drills' credentials Secrets the operator may read in those namespaces (a drill's
   * `credentialsSecretRef.name`). Default `drill-synthetic-credentials` (examples/).
   */
  readonly drillCredentialsSecrets?: readonly string[];
  /** The SecretPromotion fingerprint key Secret in the operator's namespace (created empty by the chart). */
  readonly fingerprintKeySecret: string;
  /** Secrets in the operator's namespace holding Vault connection tokens (`auth.method: tokenSecret`). Default none. */
  readonly connectionTokenSecrets?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Least privilege for what the runtime does: watch its kinds, patch them (finalizers) and their /status,
 * record Events, and hold its leader-election Lease in its own namespace. Secrets only by name: the
 * fingerprint key (get, and update to fill it once: the chart creates it), the connection tokens (get), the
 * drills' credentials in their namespaces (get). Never list, watch or create Secrets: keys and promoted
 * secrets live in Vault.
 */
export class OperatorRbac extends Construct {
  constructor(scope: Construct, id: string, props: OperatorRbacProps) {
    super(scope, id);
    const group = props.apiGroup ?? 'security.novapos.io';
    const labels = { ...props.labels };
    const subject = { kind: 'ServiceAccount', name: props.serviceAccountName, namespace: props.namespace };
    const resources = [...props.resources].sort();

    const clusterRole = new k8s.KubeClusterRole(this, 'ClusterRole', {
      metadata: { name: props.name, labels },
      rules: [
        { apiGroups: [group], resources, verbs: ['get', 'list', 'watch', 'patch'] },
        { apiGroups: [group], resources: resources.map((r) => `${r}/status`), verbs: ['get', 'patch'] },
        // Lets the operator set blockOwnerDeletion on objects it owns (OwnerReferencesPermissionEnforcement).
        { apiGroups: [group], resources: resources.map((r) => `${r}/finalizers`), verbs: ['update'] },
        // DisasterRecoveryDrills create the synthetic tenant's TenantRateLimit and remove it after each run.
        { apiGroups: [group], resources: ['tenantratelimits'], verbs: ['create', 'delete'] },
        // SigningKeyRotation serviceRef: the ready replicas of a Service, to read each one's /keys/status.
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
        // Events about its objects, in their namespaces; repeats are patched into a series.
        { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    });
    new k8s.KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: { name: props.name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.name },
      subjects: [subject],
    });

    const role = new k8s.KubeRole(this, 'LeaderElectionRole', {
      metadata: { name: `${props.name}-leader-election`, namespace: props.namespace, labels },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    });
    new k8s.KubeRoleBinding(this, 'LeaderElectionRoleBinding', {
      metadata: { name: `${props.name}-leader-election`, namespace: props.namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
      subjects: [subject],
    });

    // A drill reads its synthetic tenant admin's credentials from a Secret in the drill's namespace: read
    // access to Secrets there only, per namespace listed, never cluster-wide.
    for (const ns of props.drillNamespaces ?? []) {
      const drillRole = new k8s.KubeRole(this, `DrillSecretsRole-${ns}`, {
        metadata: { name: `${props.name}-drill-secrets`, namespace: ns, labels },
        rules: [
          {
            apiGroups: [''],
            resources: ['secrets'],
            resourceNames: [...(props.drillCredentialsSecrets ?? ['drill-synthetic-credentials'])],
            verbs: ['get'],
          },
        ],
      });
      new k8s.KubeRoleBinding(this, `DrillSecretsRoleBinding-${ns}`, {
        metadata: { name: `${props.name}-drill-secrets`, namespace: ns, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: drillRole.name },
        subjects: [subject],
      });
    }

    // Secrets in the operator's own namespace, by name only: the SecretPromotion fingerprint (HMAC) key,
    // which the chart creates empty and the first replica fills once (update), and the tokens of named Vault
    // connections (read). Nothing cluster-wide, no create, no list.
    const tokens = [...(props.connectionTokenSecrets ?? [])].sort();
    const secrets = new k8s.KubeRole(this, 'SecretsRole', {
      metadata: { name: `${props.name}-secrets`, namespace: props.namespace, labels },
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: [props.fingerprintKeySecret],
          verbs: ['get', 'update'],
        },
        ...(tokens.length
          ? [{ apiGroups: [''], resources: ['secrets'], resourceNames: tokens, verbs: ['get'] }]
          : []),
      ],
    });
    new k8s.KubeRoleBinding(this, 'SecretsRoleBinding', {
      metadata: { name: `${props.name}-secrets`, namespace: props.namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: secrets.name },
      subjects: [subject],
    });
  }
}
