import type { KubernetesObject } from '@kubernetes/client-node';
import type { KindClient } from './client.js';

export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubernetesObject): boolean {
  return !!obj.metadata?.deletionTimestamp;
}

/**
 * Adds `finalizer` with a merge patch of metadata.finalizers that carries the object's resourceVersion:
 * if someone changed the list meanwhile the apiserver answers 409 and the reconcile is retried, so no
 * other finalizer is ever dropped. Returns the updated object (or the same one when already present).
 */
export async function addFinalizer<T extends KubernetesObject>(
  client: KindClient<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  const finalizers = [...(obj.metadata?.finalizers ?? []), finalizer];
  return patchFinalizers(client, obj, finalizers);
}

/** Removes `finalizer` (same precondition as `addFinalizer`); once the list is empty a deleted object goes away. */
export async function removeFinalizer<T extends KubernetesObject>(
  client: KindClient<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const finalizers = (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer);
  return patchFinalizers(client, obj, finalizers);
}

function patchFinalizers<T extends KubernetesObject>(
  client: KindClient<T>,
  obj: T,
  finalizers: string[],
): Promise<T> {
  return client.mergePatch(obj.metadata?.name ?? '', obj.metadata?.namespace, {
    metadata: {
      finalizers: finalizers.length ? finalizers : null,
      resourceVersion: obj.metadata?.resourceVersion,
    },
  });
}
