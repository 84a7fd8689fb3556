import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The runtime's metrics, on the operator's own Registry, under controller-runtime's names so dashboards
 * written for Go operators work unchanged. Controllers register their per-kind metrics on `registry` too.
 */
export class RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly workqueueDepth: Gauge<'name'>;
  readonly workqueueAdds: Counter<'name'>;
  readonly workqueueQueueDuration: Histogram<'name'>;
  readonly workqueueWorkDuration: Histogram<'name'>;
  readonly workqueueRetries: Counter<'name'>;
  readonly leaderStatus: Gauge<'name'>;
  readonly informerRestarts: Counter<'kind' | 'reason'>;
  readonly kubeThrottled: Counter<'code' | 'outcome'>;

  constructor(opts: { registry?: Registry; processMetrics?: boolean } = {}) {
    const registry = opts.registry ?? new Registry();
    this.registry = registry;
    if (opts.processMetrics) collectDefaultMetrics({ register: registry });
    const registers = [registry];
    const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller, by result (success, error, requeue_after).',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller.',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller.',
      labelNames: ['controller'],
      buckets: durationBuckets,
      registers,
    });
    this.workqueueDepth = new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue.',
      labelNames: ['name'],
      registers,
    });
    this.workqueueAdds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue.',
      labelNames: ['name'],
      registers,
    });
    this.workqueueQueueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames: ['name'],
      buckets: durationBuckets,
      registers,
    });
    this.workqueueWorkDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name'],
      buckets: durationBuckets,
      registers,
    });
    this.workqueueRetries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue.',
      labelNames: ['name'],
      registers,
    });
    this.leaderStatus = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      labelNames: ['name'],
      registers,
    });
    this.informerRestarts = new Counter({
      name: 'novapos_operator_informer_restarts_total',
      help: 'List/watch restarts per watched kind, by reason (gone: relist after 410; error; closed).',
      labelNames: ['kind', 'reason'],
      registers,
    });
    this.kubeThrottled = new Counter({
      name: 'novapos_operator_kube_throttled_total',
      help: "Kubernetes API answers that asked the operator to slow down (429, or 5xx with Retry-After), by code and outcome (retried after the server's Retry-After, or gave_up after OPERATOR_KUBE_MAX_RETRIES).",
      labelNames: ['code', 'outcome'],
      registers,
    });
  }
}
