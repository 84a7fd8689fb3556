import type * as pulumi from '@pulumi/pulumi';
import type { StackConfig } from '../config.js';

/** Labels on everything this program creates in Kubernetes. */
export const PART_OF = {
  'app.kubernetes.io/part-of': 'novapos',
  'app.kubernetes.io/managed-by': 'pulumi',
} as const;

/** The label Prometheus selects ServiceMonitors and PrometheusRules by. */
export const MONITORING_SELECTOR = { 'novapos.io/monitoring': 'novapos' } as const;

/** The annotation that makes the Kubernetes provider not wait for readiness. */
export const SKIP_AWAIT = 'pulumi.com/skipAwait';

/**
 * What `skipAwait` puts on every Kubernetes resource. Where nothing runs the controllers (no kubelet, no
 * kube-controller-manager: dev, tests) nothing would ever finish a foreground deletion either (the garbage
 * collector removes the `foregroundDeletion` finalizer), so such stacks also delete in the background.
 */
export const NO_WAIT_ANNOTATIONS: Readonly<Record<string, string>> = {
  [SKIP_AWAIT]: 'true',
  'pulumi.com/deletionPropagationPolicy': 'background',
};

/** Shared by the Kubernetes builders: the stack config and the namespace they create things in. */
export interface KubeContext {
  readonly cfg: StackConfig;
  readonly namespace: pulumi.Input<string>;
  readonly opts: pulumi.CustomResourceOptions;
}

export function annotations(cfg: StackConfig, extra: Record<string, string> = {}): Record<string, string> {
  return cfg.skipAwait ? { ...extra, ...NO_WAIT_ANNOTATIONS } : extra;
}

export function metadata(
  ctx: KubeContext,
  name: string,
  labels: Record<string, string> = {},
  extraAnnotations: Record<string, string> = {},
) {
  const all = annotations(ctx.cfg, extraAnnotations);
  return {
    name,
    namespace: ctx.namespace,
    labels: { ...PART_OF, ...labels },
    ...(Object.keys(all).length > 0 ? { annotations: all } : {}),
  };
}
