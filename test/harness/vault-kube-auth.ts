import * as k8s from '@kubernetes/client-node';
import type { VaultInstance } from './components/vault.js';

export interface KubeAccess {
  readonly server: string;
  readonly kubeconfig: string;
  readonly caCert: string;
}

export function kubeConfigFrom(kube: { kubeconfig: string }): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kube.kubeconfig);
  return kc;
}

async function ensure<T>(create: () => Promise<T>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** Creates the namespace and ServiceAccount when missing and returns a token for it from TokenRequest. */
export async function serviceAccountToken(
  kube: KubeAccess,
  namespace: string,
  name: string,
  opts: { audiences?: string[]; expirationSeconds?: number } = {},
): Promise<string> {
  const core = kubeConfigFrom(kube).makeApiClient(k8s.CoreV1Api);
  await ensure(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
  await ensure(() =>
    core.createNamespacedServiceAccount({ namespace, body: { metadata: { name, namespace } } }),
  );
  const res = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: opts.audiences ?? [], expirationSeconds: opts.expirationSeconds ?? 3600 } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

/**
 * Enables Vault's Kubernetes auth method at `auth/<mount>` against the harness apiserver: a `vault-auth`
 * ServiceAccount bound to system:auth-delegator is the token reviewer, as in a cluster.
 */
export async function enableVaultKubernetesAuth(
  vault: VaultInstance,
  kube: KubeAccess,
  mount = 'kubernetes',
): Promise<void> {
  const kc = kubeConfigFrom(kube);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const reviewerJwt = await serviceAccountToken(kube, 'vault-system', 'vault-auth', {
    expirationSeconds: 86400,
  });
  await ensure(() =>
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'vault-auth-delegator' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'system:auth-delegator',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'vault-auth', namespace: 'vault-system' }],
      },
    }),
  );
  const enable = await vault.request('POST', `sys/auth/${mount}`, { type: 'kubernetes' });
  if (enable.status >= 300 && !JSON.stringify(enable.body).includes('path is already in use')) {
    throw new Error(`enable kubernetes auth: ${enable.status} ${JSON.stringify(enable.body)}`);
  }
  const config = await vault.request('POST', `auth/${mount}/config`, {
    kubernetes_host: kube.server,
    kubernetes_ca_cert: kube.caCert,
    token_reviewer_jwt: reviewerJwt,
    disable_local_ca_jwt: true,
  });
  if (config.status >= 300)
    throw new Error(`configure kubernetes auth: ${config.status} ${JSON.stringify(config.body)}`);
}

/** Writes a policy and a Kubernetes auth role binding it to one ServiceAccount. */
export async function vaultKubernetesRole(
  vault: VaultInstance,
  role: {
    name: string;
    policyName: string;
    policy: string;
    namespace: string;
    serviceAccount: string;
    mount?: string;
  },
): Promise<void> {
  const policy = await vault.request('PUT', `sys/policies/acl/${role.policyName}`, { policy: role.policy });
  if (policy.status >= 300)
    throw new Error(`write policy ${role.policyName}: ${policy.status} ${JSON.stringify(policy.body)}`);
  const res = await vault.request('POST', `auth/${role.mount ?? 'kubernetes'}/role/${role.name}`, {
    bound_service_account_names: [role.serviceAccount],
    bound_service_account_namespaces: [role.namespace],
    token_policies: [role.policyName],
    token_ttl: '1h',
  });
  if (res.status >= 300)
    throw new Error(`write role ${role.name}: ${res.status} ${JSON.stringify(res.body)}`);
}
