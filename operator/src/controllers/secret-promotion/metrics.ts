import { Counter, Gauge, type Registry } from 'prom-client';

const resource = ['namespace', 'name'] as const;

/** Results of `novapos_secret_promotion_total`. */
export type PromotionResult = 'applied' | 'rolled_back' | 'conflict' | 'failed';

/**
 * The per-kind metrics of docs/contracts.md on the operator's registry. Labels are the resource's namespace
 * and name, the result or key action: never a path, a key name or a value.
 */
export class PromotionMetrics {
  readonly total: Counter<'namespace' | 'name' | 'result'>;
  readonly conflicts: Counter<'namespace' | 'name'>;
  readonly lastSuccess: Gauge<'namespace' | 'name'>;
  readonly keysChanged: Counter<'namespace' | 'name' | 'action'>;

  constructor(registry: Registry) {
    const registers = [registry];
    // A second controller on the same registry (tests) reuses the metrics instead of failing to register.
    const reuse = <M>(name: string, make: () => M): M =>
      (registry.getSingleMetric(name) as M | undefined) ?? make();
    this.total = reuse(
      'novapos_secret_promotion_total',
      () =>
        new Counter({
          name: 'novapos_secret_promotion_total',
          help: 'SecretPromotion applies by result (applied, rolled_back, conflict, failed).',
          labelNames: [...resource, 'result'],
          registers,
        }),
    );
    this.conflicts = reuse(
      'novapos_secret_promotion_conflicts_total',
      () =>
        new Counter({
          name: 'novapos_secret_promotion_conflicts_total',
          help: 'Applies refused because a target changed after the plan was made (nothing was overwritten).',
          labelNames: resource,
          registers,
        }),
    );
    this.lastSuccess = reuse(
      'novapos_secret_promotion_last_success_timestamp_seconds',
      () =>
        new Gauge({
          name: 'novapos_secret_promotion_last_success_timestamp_seconds',
          help: 'When the SecretPromotion last applied a plan (promotion or rollback) successfully.',
          labelNames: resource,
          registers,
        }),
    );
    this.keysChanged = reuse(
      'novapos_secret_promotion_keys_changed_total',
      () =>
        new Counter({
          name: 'novapos_secret_promotion_keys_changed_total',
          help: 'Keys written to targets by applied plans, by action (add, change, remove).',
          labelNames: [...resource, 'action'],
          registers,
        }),
    );
  }
}
