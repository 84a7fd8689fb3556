import { CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import {
  addFinalizer,
  type ControllerFactory,
  hasFinalizer,
  isBeingDeleted,
  isNotFound,
  type ReconcileContext,
  type ResourceKind,
  removeFinalizer,
} from '../../operator/src/runtime/index.js';

/** The test-only kind of test/runtime/crds/widget.yaml. */
export const widgetKind: ResourceKind = {
  group: 'test.novapos.io',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
};
export const WIDGET_FINALIZER = 'test.novapos.io/cleanup';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface Widget extends KubernetesObject {
  spec?: { size?: number; dependsOn?: string };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** lastTransitionTime moves only when the status flips. */
function setCondition(
  existing: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const prev = existing.find((c) => c.type === next.type);
  const lastTransitionTime =
    prev && prev.status === next.status
      ? prev.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [...existing.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

export interface WidgetHooks {
  /** Called at the start of every reconcile with the key and the time. */
  onReconcile?(key: string, at: number): void;
}

/**
 * A do-nothing-but-status controller: finalizer on, Ready=True with observedGeneration, or Ready=False
 * (reason DependencyMissing) and an error while the ConfigMap named in spec.dependsOn does not exist.
 */
export function widgetController(hooks: WidgetHooks = {}, name = 'widget'): ControllerFactory {
  return ({ kubeConfig }) => {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    return {
      name,
      kind: widgetKind,
      reconciler: {
        async reconcile(key: string, ctx: ReconcileContext<Widget>) {
          hooks.onReconcile?.(key, Date.now());
          let widget = ctx.get();
          if (!widget) return {};
          if (isBeingDeleted(widget)) {
            await removeFinalizer(ctx.client, widget, WIDGET_FINALIZER);
            return {};
          }
          if (!hasFinalizer(widget, WIDGET_FINALIZER))
            widget = await addFinalizer(ctx.client, widget, WIDGET_FINALIZER);

          const generation = widget.metadata?.generation ?? 0;
          const conditions = widget.status?.conditions ?? [];
          const wasReady = conditions.find((c) => c.type === 'Ready')?.status === 'True';
          const dependency = widget.spec?.dependsOn;
          let missing: string | undefined;
          if (dependency) {
            try {
              await core.readNamespacedConfigMap({ name: dependency, namespace: ctx.namespace ?? 'default' });
            } catch (err) {
              if (!isNotFound(err)) throw err;
              missing = `configmap ${dependency} not found`;
            }
          }
          const ready = missing
            ? {
                type: 'Ready',
                status: 'False' as const,
                observedGeneration: generation,
                reason: 'DependencyMissing',
                message: missing,
              }
            : {
                type: 'Ready',
                status: 'True' as const,
                observedGeneration: generation,
                reason: 'Reconciled',
                message: 'widget is ready',
              };
          await ctx.status.write(widget, {
            observedGeneration: generation,
            conditions: setCondition(conditions, ready, new Date()),
          });
          if (missing) {
            await ctx.events.record(widget, 'Warning', 'DependencyMissing', 'Reconcile', missing);
            throw new Error(missing);
          }
          if (!wasReady) await ctx.events.record(widget, 'Normal', 'Ready', 'Reconcile', 'widget is ready');
          return {};
        },
      },
    };
  };
}
