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

/** Shared by the Kubernetes builders: the stack config and the namespace they create things in. */
export interface KubeContext {
  readonly cfg: StackConfig;
  readonly namespace: pulumi.Input<string>;
  readonly opts: pulumi.CustomResourceOptions;
}

export function annotations(cfg: StackConfig, extra: Record<string, string> = {}): Record<string, string> {
  return cfg.skipAwait ? { ...extra, [SKIP_AWAIT]: 'true' } : extra;
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
