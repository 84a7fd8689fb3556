import { isDeepStrictEqual } from 'node:util';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KindClient } from './client.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Drops `undefined` members the way JSON does, so a computed status compares equal to the stored one. */
export function toJson(value: unknown): Json {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json);
}

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The RFC 7386 JSON merge patch that turns `from` into `to`: changed members set, removed members `null`,
 * arrays replaced whole. `undefined` when nothing differs.
 */
export function createMergePatch(from: unknown, to: unknown): Json | undefined {
  const a = toJson(from);
  const b = toJson(to);
  if (isDeepStrictEqual(a, b)) return undefined;
  if (!isObject(a) || !isObject(b)) return b;
  const patch: Record<string, Json> = {};
  for (const k of Object.keys(a)) if (!(k in b)) patch[k] = null;
  for (const [k, v] of Object.entries(b)) {
    const sub = createMergePatch(a[k], v);
    if (sub !== undefined) patch[k] = sub;
  }
  return patch;
}

export type StatusWriteMode =
  | { readonly kind: 'merge-patch' }
  | { readonly kind: 'apply'; readonly fieldManager: string };

/**
 * Writes an object's /status at most once per reconcile, and only when the new status differs from the
 * status the object already has (deep compare of the JSON). A merge patch carries the object's
 * resourceVersion, so a status computed from a stale object is rejected (409) and the key retried.
 */
export class StatusWriter<T extends KubernetesObject & { status?: unknown }> {
  private written = false;

  constructor(
    private readonly client: KindClient<T>,
    private readonly mode: StatusWriteMode = { kind: 'merge-patch' },
  ) {}

  /** True when a write went to the apiserver; false when the status was already as desired. */
  async write(obj: T, status: unknown): Promise<boolean> {
    if (this.written)
      throw new Error('status written twice in one reconcile: compute the whole status, then write it once');
    this.written = true;
    const name = obj.metadata?.name ?? '';
    const namespace = obj.metadata?.namespace;
    if (this.mode.kind === 'apply') {
      if (isDeepStrictEqual(toJson(obj.status ?? null), toJson(status))) return false;
      await this.client.applyStatus(name, namespace, status, this.mode.fieldManager);
      return true;
    }
    const patch = createMergePatch(obj.status ?? {}, status);
    if (patch === undefined) return false;
    await this.client.mergePatchStatus(name, namespace, {
      metadata: { resourceVersion: obj.metadata?.resourceVersion },
      status: patch,
    });
    return true;
  }

  get hasWritten(): boolean {
    return this.written;
  }
}
