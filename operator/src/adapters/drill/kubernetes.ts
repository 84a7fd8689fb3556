import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Annotations, GROUP, VERSION } from '../../api/meta.js';
import type { SigningKeyRotation } from '../../api/v1alpha1/signingkeyrotation.js';
import type { TenantRateLimit } from '../../api/v1alpha1/tenantratelimit.js';
import { isConflict, isNotFound, mergePatch } from '../../runtime/kube.js';
import type {
  CredentialsSource,
  RateLimits,
  RateLimitView,
  RotationTrigger,
  RotationView,
  SecretValues,
  SyntheticCredentials,
  SyntheticLimits,
} from './ports.js';

/** The label on everything a drill creates: the drill's name. */
export const DRILL_LABEL = 'security.novapos.io/drill';
/** On a SigningKeyRotation whose lead time a drill shortened: the lead time to put back. */
export const RESTORE_LEAD_TIME_ANNOTATION = 'security.novapos.io/drill-restore-lead-time';

const conditionTrue = (
  conditions: readonly { type: string; status: string; observedGeneration?: number }[] | undefined,
  type: string,
  generation: number,
) =>
  conditions?.some((c) => c.type === type && c.status === 'True' && c.observedGeneration === generation) ??
  false;

/** A Secret's decoded data; an error naming the Secret and `what` it is for (never a value). */
async function readSecretData(
  core: CoreV1Api,
  namespace: string,
  secretName: string,
  what: string,
): Promise<(key: string) => string | undefined> {
  let secret: Awaited<ReturnType<CoreV1Api['readNamespacedSecret']>>;
  try {
    secret = await core.readNamespacedSecret({ name: secretName, namespace });
  } catch (err) {
    if (isNotFound(err)) throw new Error(`Secret ${namespace}/${secretName} (${what}) not found`);
    throw new Error(
      `could not read Secret ${namespace}/${secretName} (${what}): HTTP ${(err as { code?: number }).code ?? '?'}`,
    );
  }
  return (k: string) => {
    const v = secret.data?.[k];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
}

/** The synthetic admin's credentials from a Secret (keys email, password, totpSecret). */
export class KubeCredentialsSource implements CredentialsSource {
  private readonly core: CoreV1Api;
  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(namespace: string, secretName: string): Promise<SyntheticCredentials> {
    const field = await readSecretData(this.core, namespace, secretName, 'synthetic tenant credentials');
    const email = field('email');
    const password = field('password');
    if (!email || !password)
      throw new Error(`Secret ${namespace}/${secretName} needs the keys email and password (and totpSecret)`);
    return { email, password, totpSecret: field('totpSecret') };
  }
}

/** One key of a Secret (the audit-service admin token), trimmed; an error when it is missing or empty. */
export class KubeSecretValues implements SecretValues {
  private readonly core: CoreV1Api;
  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(namespace: string, name: string, key: string): Promise<string> {
    const value = (await readSecretData(this.core, namespace, name, `key ${key}`))(key)?.trim();
    if (!value) throw new Error(`Secret ${namespace}/${name} has no key ${key} (or it is empty)`);
    return value;
  }
}

const trlBase = (namespace: string) => ({
  group: GROUP,
  version: VERSION,
  plural: 'tenantratelimits',
  namespace,
});

/** TenantRateLimit resources through the apiserver. */
export class KubeRateLimits implements RateLimits {
  private readonly api: CustomObjectsApi;
  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async get(namespace: string, name: string): Promise<RateLimitView | undefined> {
    let trl: TenantRateLimit;
    try {
      trl = (await this.api.getNamespacedCustomObject({ ...trlBase(namespace), name })) as TenantRateLimit;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const generation = trl.metadata.generation ?? 0;
    const applied = trl.status?.conditions?.find((c) => c.type === 'Applied');
    return {
      tenant: trl.spec.tenant,
      redisFailureMode: trl.spec.redisFailureMode,
      applied: conditionTrue(trl.status?.conditions, 'Applied', generation),
      appliedMessage: applied?.message,
      createdByDrill: trl.metadata.labels?.[DRILL_LABEL],
    };
  }

  async ensure(namespace: string, name: string, drill: string, limits: SyntheticLimits): Promise<void> {
    const spec = {
      tenant: limits.tenant,
      requestsPerMinute: limits.requestsPerMinute,
      burst: 0,
      enforcement: 'enforce',
      redisFailureMode: limits.redisFailureMode,
      ...(limits.redisFailureMode === 'localFallback'
        ? {
            localFallback: {
              requestsPerMinute: limits.localFallbackRequestsPerMinute ?? limits.requestsPerMinute,
              burst: 0,
            },
          }
        : {}),
    };
    const existing = await this.get(namespace, name);
    if (existing && existing.createdByDrill !== drill)
      throw new Error(
        `TenantRateLimit ${name} exists and was not created by this drill: refusing to change it`,
      );
    if (existing) {
      await this.api.patchNamespacedCustomObject(
        {
          ...trlBase(namespace),
          name,
          body: { spec: { ...spec, localFallback: spec.localFallback ?? null } },
        },
        mergePatch,
      );
      return;
    }
    await this.api.createNamespacedCustomObject({
      ...trlBase(namespace),
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'TenantRateLimit',
        metadata: { name, namespace, labels: { [DRILL_LABEL]: drill } },
        spec,
      },
    });
  }

  async deleteIfOwned(namespace: string, name: string, drill: string): Promise<boolean> {
    const existing = await this.get(namespace, name);
    if (!existing || existing.createdByDrill !== drill) return false;
    try {
      await this.api.deleteNamespacedCustomObject({ ...trlBase(namespace), name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return true;
  }
}

const skrBase = (namespace: string) => ({
  group: GROUP,
  version: VERSION,
  plural: 'signingkeyrotations',
  namespace,
});

/** A SigningKeyRotation rotated with its rotate-now annotation and watched through its status. */
export class KubeRotationTrigger implements RotationTrigger {
  private readonly api: CustomObjectsApi;
  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private async read(namespace: string, name: string): Promise<SigningKeyRotation | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({
        ...skrBase(namespace),
        name,
      })) as SigningKeyRotation;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async get(namespace: string, name: string): Promise<RotationView | undefined> {
    const skr = await this.read(namespace, name);
    if (!skr) return undefined;
    const generation = skr.metadata.generation ?? 0;
    return {
      activeKid: skr.status?.activeKid,
      keysetHash: skr.status?.keysetHash,
      leadTime: skr.spec.leadTime,
      jwksCacheTTL: skr.spec.jwksCacheTTL,
      servicesLoaded: conditionTrue(skr.status?.conditions, 'ServicesLoaded', generation),
      generation,
      leadTimeToRestore: skr.metadata.annotations?.[RESTORE_LEAD_TIME_ANNOTATION],
    };
  }

  async rotateNow(namespace: string, name: string, value: string): Promise<void> {
    await this.api.patchNamespacedCustomObject(
      {
        ...skrBase(namespace),
        name,
        body: { metadata: { annotations: { [Annotations.rotateNow]: value } } },
      },
      mergePatch,
    );
  }

  async shortenLeadTime(namespace: string, name: string, leadTime: string): Promise<void> {
    await retryOnConflict(() => this.shortenLeadTimeOnce(namespace, name, leadTime));
  }

  private async shortenLeadTimeOnce(namespace: string, name: string, leadTime: string): Promise<void> {
    const skr = await this.read(namespace, name);
    if (!skr) throw new Error(`SigningKeyRotation ${name} not found`);
    // Remember the resource's own lead time once: a second drill must not record the shortened one.
    const original = skr.metadata.annotations?.[RESTORE_LEAD_TIME_ANNOTATION] ?? skr.spec.leadTime;
    await this.api.patchNamespacedCustomObject(
      {
        ...skrBase(namespace),
        name,
        body: {
          metadata: {
            resourceVersion: skr.metadata.resourceVersion,
            annotations: { [RESTORE_LEAD_TIME_ANNOTATION]: original },
          },
          spec: { leadTime },
        },
      },
      mergePatch,
    );
  }

  async restoreLeadTime(namespace: string, name: string): Promise<boolean> {
    return retryOnConflict(() => this.restoreLeadTimeOnce(namespace, name));
  }

  private async restoreLeadTimeOnce(namespace: string, name: string): Promise<boolean> {
    const skr = await this.read(namespace, name);
    const original = skr?.metadata.annotations?.[RESTORE_LEAD_TIME_ANNOTATION];
    if (!skr || !original) return false;
    await this.api.patchNamespacedCustomObject(
      {
        ...skrBase(namespace),
        name,
        body: {
          metadata: {
            resourceVersion: skr.metadata.resourceVersion,
            annotations: { [RESTORE_LEAD_TIME_ANNOTATION]: null },
          },
          spec: { leadTime: original },
        },
      },
      mergePatch,
    );
    return true;
  }
}

/**
 * A patch pinned to the resourceVersion it read loses to any write in between, the controller's status
 * writes included (every service poll): read again and retry, a few times.
 */
async function retryOnConflict<T>(attempt: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * i));
    }
  }
}
