import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../../lib/log.js';
import { microTime } from './events.js';
import { describeError, isConflict, isNotFound } from './kube.js';
import type { RuntimeMetrics } from './metrics.js';

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly leaseName: string;
  readonly namespace: string;
  /** This replica's holderIdentity (pod name). */
  readonly identity: string;
  /** How long a lease stays valid after its last renewal, as seen by the others. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** The leader gives up if it cannot renew for this long. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** Between attempts to acquire or renew. Default 2 s. */
  readonly retryPeriodMs?: number;
  readonly log: Logger;
  readonly metrics?: RuntimeMetrics;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  /** Leadership was lost (renewal failed past the deadline) or released by `stop()`. */
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

interface Observed {
  holder: string;
  renewTime: string;
  resourceVersion: string;
  /** When this replica saw the record change, on its own clock: expiry is judged from it, not from the
   * holder's timestamps, so clock skew between replicas does not matter (as client-go does). */
  at: number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's algorithm: acquire when the lease is
 * free, released, or not renewed for leaseDuration; renew every retryPeriod; every write carries the
 * resourceVersion read, so two candidates can never both win. `stop()` releases the lease so a standby
 * takes over at its next retry instead of waiting for expiry.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed?: Observed;
  private lease?: V1Lease;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private wake?: () => void;
  private loop?: Promise<void>;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
    opts.metrics?.leaderStatus.set({ name: opts.leaseName }, 0);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get leaderIdentity(): string | undefined {
    return this.observed?.holder || undefined;
  }

  /** Campaigns until stopped: acquire, then renew until lost, then campaign again. */
  start(callbacks: LeaderCallbacks): void {
    this.loop = this.run(callbacks);
  }

  private async run(callbacks: LeaderCallbacks): Promise<void> {
    while (!this.stopped) {
      // Acquire.
      while (!this.stopped && !(await this.tryAcquireOrRenew(callbacks)))
        await this.pause(this.retryPeriodMs * (1 + Math.random() * 0.2));
      if (this.stopped) return;
      this.leading = true;
      this.opts.metrics?.leaderStatus.set({ name: this.opts.leaseName }, 1);
      this.opts.log.info(
        { lease: `${this.opts.namespace}/${this.opts.leaseName}`, identity: this.opts.identity },
        'became leader',
      );
      callbacks.onStartedLeading();
      // Renew.
      let lastRenew = Date.now();
      while (!this.stopped) {
        await this.pause(this.retryPeriodMs);
        if (this.stopped) break;
        if (await this.tryAcquireOrRenew(callbacks)) lastRenew = Date.now();
        else if (Date.now() - lastRenew > this.renewDeadlineMs) break;
      }
      if (this.stopped) return;
      this.leading = false;
      this.opts.metrics?.leaderStatus.set({ name: this.opts.leaseName }, 0);
      this.opts.log.error(
        { lease: `${this.opts.namespace}/${this.opts.leaseName}` },
        'lost leadership: could not renew the lease within the renew deadline',
      );
      callbacks.onStoppedLeading();
    }
  }

  /** Stops campaigning; a leader releases the lease (holderIdentity cleared) so failover is immediate. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    this.opts.metrics?.leaderStatus.set({ name: this.opts.leaseName }, 0);
    const lease = this.lease;
    if (!lease?.metadata?.resourceVersion) return;
    try {
      const now = microTime(Date.now());
      await this.api.replaceNamespacedLease({
        name: this.opts.leaseName,
        namespace: this.opts.namespace,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: now as never,
            acquireTime: now as never,
          },
        },
      });
      this.opts.log.info({ lease: `${this.opts.namespace}/${this.opts.leaseName}` }, 'released the lease');
    } catch (err) {
      this.opts.log.warn(
        { err: describeError(err) },
        'could not release the lease; the standby takes over when it expires',
      );
    }
  }

  private async tryAcquireOrRenew(callbacks: LeaderCallbacks): Promise<boolean> {
    const { leaseName: name, namespace, identity } = this.opts;
    const now = Date.now();
    const spec = (acquireTime: string, transitions: number) => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: acquireTime as never,
      renewTime: microTime(now) as never,
      leaseTransitions: transitions,
    });
    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.opts.log.warn({ err: describeError(err) }, 'could not read the lease');
        return false;
      }
      try {
        this.lease = await this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: spec(microTime(now), 0),
          },
        });
        this.observe(this.lease, callbacks);
        return true;
      } catch (createErr) {
        if (!isConflict(createErr))
          this.opts.log.warn({ err: describeError(createErr) }, 'could not create the lease');
        return false;
      }
    }
    this.observe(current, callbacks);
    const holder = current.spec?.holderIdentity ?? '';
    const iHold = holder === identity;
    const heldByOther = holder !== '' && !iHold;
    if (heldByOther && this.observed && this.observed.at + this.leaseDurationMs > now) return false;
    const acquireTime = iHold ? String(current.spec?.acquireTime ?? microTime(now)) : microTime(now);
    const transitions = (current.spec?.leaseTransitions ?? 0) + (iHold ? 0 : 1);
    try {
      this.lease = await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...current, spec: { ...current.spec, ...spec(acquireTime, transitions) } },
      });
      this.observe(this.lease, callbacks);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.opts.log.warn({ err: describeError(err) }, 'could not update the lease');
      return false;
    }
  }

  private observe(lease: V1Lease, callbacks: LeaderCallbacks): void {
    const holder = lease.spec?.holderIdentity ?? '';
    const renewTime = String(lease.spec?.renewTime ?? '');
    const resourceVersion = lease.metadata?.resourceVersion ?? '';
    const prev = this.observed;
    if (
      !prev ||
      prev.holder !== holder ||
      prev.renewTime !== renewTime ||
      prev.resourceVersion !== resourceVersion
    ) {
      this.observed = { holder, renewTime, resourceVersion, at: Date.now() };
      if (holder && holder !== prev?.holder) callbacks.onNewLeader?.(holder);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(this.timer);
        resolve();
      };
    });
  }
}
