import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../../lib/log.js';
import type { BackoffPolicy } from './backoff.js';
import { Controller, type ControllerFactory } from './controller.js';
import { EventRecorder } from './events.js';
import { DEFAULT_THROTTLE, ThrottleAwareKubeConfig, type ThrottlePolicy } from './kube.js';
import { LeaderElector } from './leader-election.js';
import { RuntimeMetrics } from './metrics.js';
import { type RunningServer, startMetricsServer, startProbesServer } from './servers.js';

export interface ManagerOptions {
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  /** holderIdentity and Events' reportingInstance: the pod name. */
  readonly identity: string;
  /** events.k8s.io reportingController. Default `security.novapos.io/operator`. */
  readonly reportingController?: string;
  /** Namespaces to watch; all when empty. */
  readonly watchNamespaces?: readonly string[];
  /** Off: this replica reconciles at once (single replica, local development, tests). */
  readonly leaderElection?:
    | false
    | {
        readonly leaseName: string;
        readonly namespace: string;
        readonly leaseDurationMs?: number;
        readonly renewDeadlineMs?: number;
        readonly retryPeriodMs?: number;
      };
  /** 0 picks a free port; undefined starts no server. */
  readonly metricsPort?: number;
  readonly probesPort?: number;
  readonly bindAddress?: string;
  /** How long shutdown waits for in-flight reconciles. Default 30 s. */
  readonly shutdownTimeoutMs?: number;
  readonly maxConcurrentReconciles?: number;
  readonly resyncPeriodMs?: number;
  readonly backoff?: BackoffPolicy;
  /** Between failed list/watch attempts. Default 500 ms doubling to 30 s, with jitter. */
  readonly informerBackoff?: BackoffPolicy;
  /**
   * Work-queue rate limit of every controller (reconciles handed out per second); `false`: none. Default
   * DEFAULT_RECONCILE_RATE, what the apiserver ceiling measured by bench/operator-scale.ts supports.
   */
  readonly rateLimit?: { readonly ratePerSecond: number; readonly burst: number } | false;
  /** Retries on the apiserver's 429 / Retry-After (kube clients made by a ThrottleAwareKubeConfig). */
  readonly throttle?: ThrottlePolicy;
  /** Default: a fresh registry with process metrics. */
  readonly metrics?: RuntimeMetrics;
}

/**
 * The default work-queue limit: above what one apiserver took in bench/operator-scale.ts (the bare-client
 * ceiling, about 3 writes per reconcile), so the apiserver's own priority and fairness (429 + Retry-After,
 * honoured by the client) is what paces the operator, not a guess on the client side.
 */
export const DEFAULT_RECONCILE_RATE = { ratePerSecond: 500, burst: 1000 } as const;
/** The default reconciles in parallel per controller: the concurrency at which the bare client peaked. */
export const DEFAULT_MAX_CONCURRENT_RECONCILES = 16;

export type StopReason = 'signal' | 'leadership-lost' | 'stopped';

/**
 * Runs a set of controllers: metrics and probe servers, informers on every replica (so a standby has a warm
 * cache), leader election, and workers only on the leader. `stop()` is the graceful shutdown: stop informers
 * and queues, drain in-flight reconciles (bounded), release the lease, close the servers.
 */
export class Manager {
  readonly metrics: RuntimeMetrics;
  // biome-ignore lint/suspicious/noExplicitAny: controllers of different kinds live in one list
  readonly controllers: Controller<any>[] = [];
  readonly events: EventRecorder;
  private readonly elector?: LeaderElector;
  private metricsServer?: RunningServer;
  private probesServer?: RunningServer;
  private stopping?: Promise<void>;
  private resolveDone!: (reason: StopReason) => void;
  /** Resolves when the manager has stopped, with why. */
  readonly done: Promise<StopReason>;
  private leading = false;

  constructor(private readonly opts: ManagerOptions) {
    this.metrics = opts.metrics ?? new RuntimeMetrics({ processMetrics: true });
    this.events = new EventRecorder({
      kubeConfig: opts.kubeConfig,
      controller: opts.reportingController ?? 'security.novapos.io/operator',
      instance: opts.identity,
      log: opts.log,
    });
    if (opts.leaderElection) {
      this.elector = new LeaderElector({
        kubeConfig: opts.kubeConfig,
        identity: opts.identity,
        log: opts.log,
        metrics: this.metrics,
        ...opts.leaderElection,
      });
    }
    if (opts.kubeConfig instanceof ThrottleAwareKubeConfig) {
      opts.kubeConfig.throttle = opts.throttle ?? opts.kubeConfig.throttle ?? DEFAULT_THROTTLE;
      opts.kubeConfig.onThrottled(({ status, retried }) =>
        this.metrics.kubeThrottled.inc({ code: String(status), outcome: retried ? 'retried' : 'gave_up' }),
      );
    }
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Registers a controller; call before `start()`. */
  // biome-ignore lint/suspicious/noExplicitAny: the factory decides the kind
  register(factory: ControllerFactory): Controller<any> {
    const spec = factory({
      kubeConfig: this.opts.kubeConfig,
      registry: this.metrics.registry,
      log: this.opts.log,
      identity: this.opts.identity,
    });
    const controller = new Controller(spec, {
      kubeConfig: this.opts.kubeConfig,
      log: this.opts.log,
      metrics: this.metrics,
      events: this.events,
      namespaces: this.opts.watchNamespaces ?? [],
      defaults: {
        maxConcurrentReconciles: this.opts.maxConcurrentReconciles ?? DEFAULT_MAX_CONCURRENT_RECONCILES,
        resyncPeriodMs: this.opts.resyncPeriodMs ?? 600_000,
        backoff: this.opts.backoff ?? { baseMs: 100, maxMs: 300_000 },
        rateLimit:
          this.opts.rateLimit === false ? undefined : (this.opts.rateLimit ?? DEFAULT_RECONCILE_RATE),
        informerBackoff: this.opts.informerBackoff,
      },
    });
    this.controllers.push(controller);
    return controller;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get ready(): boolean {
    return this.controllers.every((c) => c.hasSynced);
  }

  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  get probesUrl(): string | undefined {
    return this.probesServer?.url;
  }

  async start(): Promise<void> {
    const host = this.opts.bindAddress ?? '0.0.0.0';
    if (this.opts.metricsPort !== undefined)
      this.metricsServer = await startMetricsServer(this.metrics.registry, this.opts.metricsPort, host);
    if (this.opts.probesPort !== undefined) {
      this.probesServer = await startProbesServer(
        { healthy: () => !this.stopping, ready: () => this.ready && !this.stopping },
        this.opts.probesPort,
        host,
      );
    }
    for (const c of this.controllers) c.startInformers();
    this.opts.log.info(
      {
        controllers: this.controllers.map((c) => c.spec.name),
        metrics: this.metricsServer?.url,
        probes: this.probesServer?.url,
      },
      'manager started',
    );
    if (!this.elector) {
      this.startLeading();
      return;
    }
    this.elector.start({
      onStartedLeading: () => this.startLeading(),
      onStoppedLeading: () => {
        this.leading = false;
        // As controller-runtime does: a replica that lost its lease stops; the Deployment restarts it clean.
        void this.stop('leadership-lost');
      },
      onNewLeader: (id) => this.opts.log.info({ leader: id }, 'leader observed'),
    });
  }

  private startLeading(): void {
    this.leading = true;
    for (const c of this.controllers) c.startWorkers();
  }

  stop(reason: StopReason = 'stopped'): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: StopReason): Promise<void> {
    const timeoutMs = this.opts.shutdownTimeoutMs ?? 30_000;
    this.opts.log.info({ reason, timeoutMs }, 'shutting down');
    const drained = await Promise.all(this.controllers.map((c) => c.stop(timeoutMs)));
    // Stop campaigning in every case; release (only a current leader does) after in-flight reconciles ended,
    // so two replicas never reconcile at once.
    await this.elector?.stop();
    this.leading = false;
    await this.metricsServer?.close();
    await this.probesServer?.close();
    this.opts.log.info({ drained: drained.every(Boolean) }, 'stopped');
    this.resolveDone(reason);
  }
}
