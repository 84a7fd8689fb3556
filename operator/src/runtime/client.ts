import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { mergePatch, type ResourceKind, serverSideApply } from './kube.js';

/**
 * Typed access to one custom resource kind through client-node's CustomObjectsApi: the calls the runtime
 * makes (list, get, merge patch of the object and of /status, server-side apply of /status). Every patch
 * names its content type.
 */
export class KindClient<T extends KubernetesObject = KubernetesObject> {
  private readonly api: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    readonly kind: ResourceKind,
  ) {
    if (!kind.group) throw new Error(`KindClient serves custom resources; ${kind.kind} is in the core group`);
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private base(namespace?: string) {
    return {
      group: this.kind.group,
      version: this.kind.version,
      plural: this.kind.plural,
      namespace: namespace ?? '',
    };
  }

  async list(
    opts: { namespace?: string; limit?: number; continueToken?: string } = {},
  ): Promise<KubernetesListObject<T>> {
    const page = { limit: opts.limit, _continue: opts.continueToken };
    if (opts.namespace && this.kind.namespaced) {
      return (await this.api.listNamespacedCustomObject({
        ...this.base(opts.namespace),
        ...page,
      })) as KubernetesListObject<T>;
    }
    const { namespace: _ns, ...cluster } = this.base();
    return (await this.api.listClusterCustomObject({ ...cluster, ...page })) as KubernetesListObject<T>;
  }

  async get(name: string, namespace?: string): Promise<T> {
    if (this.kind.namespaced)
      return (await this.api.getNamespacedCustomObject({ ...this.base(namespace), name })) as T;
    const { namespace: _ns, ...cluster } = this.base();
    return (await this.api.getClusterCustomObject({ ...cluster, name })) as T;
  }

  async create(obj: T): Promise<T> {
    const namespace = obj.metadata?.namespace;
    if (this.kind.namespaced)
      return (await this.api.createNamespacedCustomObject({ ...this.base(namespace), body: obj })) as T;
    const { namespace: _ns, ...cluster } = this.base();
    return (await this.api.createClusterCustomObject({ ...cluster, body: obj })) as T;
  }

  /** JSON merge patch of the object (metadata, spec). */
  async mergePatch(name: string, namespace: string | undefined, body: unknown): Promise<T> {
    if (this.kind.namespaced) {
      return (await this.api.patchNamespacedCustomObject(
        { ...this.base(namespace), name, body },
        mergePatch,
      )) as T;
    }
    const { namespace: _ns, ...cluster } = this.base();
    return (await this.api.patchClusterCustomObject({ ...cluster, name, body }, mergePatch)) as T;
  }

  /** JSON merge patch of the /status subresource. */
  async mergePatchStatus(name: string, namespace: string | undefined, body: unknown): Promise<T> {
    if (this.kind.namespaced) {
      return (await this.api.patchNamespacedCustomObjectStatus(
        { ...this.base(namespace), name, body },
        mergePatch,
      )) as T;
    }
    const { namespace: _ns, ...cluster } = this.base();
    return (await this.api.patchClusterCustomObjectStatus({ ...cluster, name, body }, mergePatch)) as T;
  }

  /** Server-side apply of /status as `fieldManager` (forced: the operator owns its status). */
  async applyStatus(
    name: string,
    namespace: string | undefined,
    status: unknown,
    fieldManager: string,
  ): Promise<T> {
    const body = {
      apiVersion: `${this.kind.group}/${this.kind.version}`,
      kind: this.kind.kind,
      metadata: { name, ...(namespace ? { namespace } : {}) },
      status,
    };
    const params = { name, body, fieldManager, force: true };
    if (this.kind.namespaced) {
      return (await this.api.patchNamespacedCustomObjectStatus(
        { ...this.base(namespace), ...params },
        serverSideApply,
      )) as T;
    }
    const { namespace: _ns, ...cluster } = this.base();
    return (await this.api.patchClusterCustomObjectStatus({ ...cluster, ...params }, serverSideApply)) as T;
  }
}
