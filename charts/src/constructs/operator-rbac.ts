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
  /**
   * The user groups bound to the chart's user roles (ClusterRoleBindings), or `false` to bind none (then bind
   * the ClusterRoles yourself, per namespace with RoleBindings if you prefer). Default USER_GROUPS.
   */
  readonly userGroups?: false | Partial<Readonly<Record<UserRole, readonly string[]>>>;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * The user roles of the operator's kinds (docs/operator-access.md):
 * - `view`: read the four kinds and their status, and Events (aggregated into the built-in `view`, `edit`
 *   and `admin` roles, like cert-manager's and prometheus-operator's);
 * - `edit`: create, change and delete them (aggregated into `edit` and `admin`);
 * - `oncall`: read, and patch, which is what the plugin's rotate, revoke, approve, rollback and drill run do.
 *   Approving a plan also needs membership of novapos:approvers (the admission policy), never RBAC alone.
 */
export type UserRole = 'view' | 'edit' | 'oncall';

/** The groups the docs name (docs/operator-access.md), by role. */
export const USER_GROUPS: Readonly<Record<UserRole, readonly string[]>> = {
  view: ['novapos:viewers'],
  edit: ['novapos:engineers'],
  oncall: ['novapos:oncall', 'novapos:approvers'],
};

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

    if (props.userGroups !== false)
      new OperatorUserRoles(this, 'UserRoles', {
        name: props.name,
        group,
        resources,
        groups: { ...USER_GROUPS, ...props.userGroups },
        labels,
      });

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

/** The user roles (UserRole) as ClusterRoles `<name>-view|edit|oncall`, each bound to its groups. */
class OperatorUserRoles extends Construct {
  constructor(
    scope: Construct,
    id: string,
    props: {
      name: string;
      group: string;
      resources: string[];
      groups: Partial<Readonly<Record<UserRole, readonly string[]>>>;
      labels: Record<string, string>;
    },
  ) {
    super(scope, id);
    const { group, resources } = props;
    const read = ['get', 'list', 'watch'];
    const events = [
      { apiGroups: [''], resources: ['events'], verbs: read },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: read },
    ];
    const readStatus = { apiGroups: [group], resources: resources.map((r) => `${r}/status`), verbs: read };
    const readKinds = [{ apiGroups: [group], resources, verbs: read }, readStatus];
    const aggregate = (to: string[]) =>
      Object.fromEntries(to.map((r) => [`rbac.authorization.k8s.io/aggregate-to-${r}`, 'true']));
    const roles: Record<UserRole, { rules: k8s.PolicyRule[]; aggregateTo: string[] }> = {
      view: { rules: [...readKinds, ...events], aggregateTo: ['view', 'edit', 'admin'] },
      // Bound directly (novapos:engineers) it must read what it edits: kubectl gets before it patches.
      edit: {
        rules: [
          {
            apiGroups: [group],
            resources,
            verbs: [...read, 'create', 'update', 'patch', 'delete', 'deletecollection'],
          },
          readStatus,
          ...events,
        ],
        aggregateTo: ['edit', 'admin'],
      },
      oncall: {
        rules: [{ apiGroups: [group], resources, verbs: [...read, 'patch'] }, readStatus, ...events],
        aggregateTo: [],
      },
    };
    for (const [role, { rules, aggregateTo }] of Object.entries(roles) as [
      UserRole,
      (typeof roles)[UserRole],
    ][]) {
      const name = `${props.name}-${role}`;
      const clusterRole = new k8s.KubeClusterRole(this, `ClusterRole-${role}`, {
        metadata: { name, labels: { ...props.labels, ...aggregate(aggregateTo) } },
        rules,
      });
      const groups = props.groups[role] ?? [];
      if (groups.length)
        new k8s.KubeClusterRoleBinding(this, `ClusterRoleBinding-${role}`, {
          metadata: { name, labels: props.labels },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.name },
          subjects: groups.map((g) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: g })),
        });
    }
  }
}
