import { setTimeout as sleep } from 'node:timers/promises';
import type { Gauge } from 'prom-client';
import type { LimitPublisher } from '../../adapters/redis/limit-publisher.js';
import { Annotations } from '../../api/index.js';
import type { TenantRateLimit } from '../../api/v1alpha1/index.js';
import type { TenantOwner } from '../../connections-file.js';
import {
  addFinalizer,
  describeError,
  hasFinalizer,
  isBeingDeleted,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  removeFinalizer,
} from '../../runtime/index.js';
import {
  ACK_WAIT_MS,
  type AckSummary,
  FINALIZER,
  limitDocument,
  type Outcome,
  ownerOf,
  planStatus,
  RESYNC_MS,
  samePublished,
  summarizeAcks,
  TenantRateLimitReason,
  tenantOwnerNamespace,
  validateSpec,
} from './desired.js';

/** The controller's cache index of resources by `spec.tenant` (see index.ts). */
export const TENANT_INDEX = 'tenant';

export interface TenantRateLimitReconcilerDeps {
  readonly limits: LimitPublisher;
  /** novapos_tenant_rate_limit_applied{tenant}. */
  readonly appliedGauge: Gauge<'tenant'>;
  readonly now?: () => Date;
  /**
   * Which namespace sets which tenant's limits (the operator configuration's tenantOwners). Undefined:
   * not configured, any namespace may (the oldest resource per tenant wins).
   */
  readonly tenantOwners?: readonly TenantOwner[];
  /**
   * Once applied, how often the reconcile checks that Redis still holds the published generation and
   * rewrites it otherwise (Redis replication is asynchronous: a failover can lose an acknowledged write).
   * Default RESYNC_MS (60 s).
   */
  readonly verifyEveryMs?: number;
  /**
   * After publishing, how long the reconcile waits for every live gateway replica to acknowledge the
   * generation before it writes the status (Applied=True at once, one write and one Event) or, when the wait
   * runs out, reports the laggards and polls again (ACK_POLL_MS). Default ACK_WAIT_MS (1 s); 0 reads them once more without waiting.
   */
  readonly ackWaitMs?: number;
}

/**
 * fetch → deletion/finalizer → validate → one owner per tenant → publish to Redis when it differs → await
 * the live gateway replicas' acknowledgements (bounded: ackWaitMs) → one status write and one Event for the
 * generation → requeue (every second while acknowledgements are still awaited, a minute once applied so a
 * Redis that lost its data is refilled).
 */
export class TenantRateLimitReconciler implements Reconciler<TenantRateLimit> {
  private readonly now: () => Date;

  constructor(private readonly deps: TenantRateLimitReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(_key: string, ctx: ReconcileContext<TenantRateLimit>): Promise<ReconcileResult> {
    let trl = ctx.get();
    if (!trl) return {};
    if (isBeingDeleted(trl)) return this.finalize(trl, ctx);
    if (!hasFinalizer(trl, FINALIZER)) trl = await addFinalizer(ctx.client, trl, FINALIZER);

    const outcome = await this.decide(trl, ctx);
    const reconcileNow = trl.metadata.annotations?.[Annotations.reconcileNow];
    const owners = this.deps.tenantOwners;
    const ownership = owners
      ? `namespace ${trl.metadata.namespace} owns tenant ${trl.spec.tenant} (tenantOwners in the operator configuration)`
      : undefined;
    const plan = planStatus(trl, outcome, this.now(), reconcileNow, ownership);
    const wasReady = trl.status?.conditions?.find((c) => c.type === 'Ready');
    await ctx.status.write(trl, plan.status);
    if (outcome.kind === 'conflict' || outcome.kind === 'notOwned')
      this.deps.appliedGauge.remove({ tenant: trl.spec.tenant });
    else this.deps.appliedGauge.set({ tenant: trl.spec.tenant }, plan.applied);
    await this.recordEvents(
      trl,
      outcome,
      plan.status.conditions?.find((c) => c.type === 'Ready'),
      wasReady,
      ctx,
    );
    if (outcome.kind === 'redisUnavailable') throw new Error(`Redis unavailable: ${outcome.error}`);
    if (plan.requeueAfterMs === RESYNC_MS && this.deps.verifyEveryMs)
      return { requeueAfterMs: this.deps.verifyEveryMs };
    return { requeueAfterMs: plan.requeueAfterMs };
  }

  private async decide(trl: TenantRateLimit, ctx: ReconcileContext<TenantRateLimit>): Promise<Outcome> {
    const problems = validateSpec(trl);
    if (problems.length) return { kind: 'invalid', problems };
    const owners = this.deps.tenantOwners;
    const ownerNamespace = owners ? tenantOwnerNamespace(trl.spec.tenant, owners) : undefined;
    if (owners && ownerNamespace !== trl.metadata.namespace) {
      // Whatever this resource wrote before (an older operator, a changed configuration) is withdrawn:
      // only a config key it wrote itself (its uid) is deleted, never the owner's.
      let withdrawn = false;
      try {
        withdrawn = await this.deps.limits.withdraw(trl.spec.tenant, trl.metadata.uid ?? '');
      } catch (err) {
        return { kind: 'redisUnavailable', error: describeError(err) };
      }
      if (withdrawn)
        ctx.log.warn(
          { tenant: trl.spec.tenant },
          'limits of a resource that does not own the tenant withdrawn',
        );
      return { kind: 'notOwned', ownerNamespace, withdrawn };
    }
    // Only resources of the owning namespace compete for the tenant (a squatter elsewhere never wins).
    const all = ctx
      .byIndex(TENANT_INDEX, trl.spec.tenant)
      .filter((t) => !owners || t.metadata.namespace === ownerNamespace);
    const owner = ownerOf(trl.spec.tenant, all) ?? trl;
    if (owner.metadata.uid !== trl.metadata.uid) return { kind: 'conflict', owner };

    const now = this.now();
    const desired = limitDocument(trl, now);
    const reconcileNow = trl.metadata.annotations?.[Annotations.reconcileNow];
    const forced = reconcileNow !== undefined && reconcileNow !== trl.status?.lastHandled?.reconcileNow;
    try {
      const current = await this.deps.limits.current(trl.spec.tenant);
      let publishedNow = false;
      let publishedAt = current?.publishedAt || trl.status?.publishedAt || desired.publishedAt;
      // Every reconcile (and every verifyEveryMs once applied) compares what Redis holds with what this
      // resource publishes: a key lost in a failover, flushed or changed by hand is written again.
      if (forced || !samePublished(current, desired)) {
        if (!forced && trl.status?.appliedGeneration === desired.generation)
          ctx.log.warn(
            { tenant: trl.spec.tenant, generation: desired.generation },
            'Redis lost the published limits (a failover, a flush or a hand edit): writing them again',
          );
        await this.deps.limits.publish(desired);
        publishedNow = true;
        publishedAt = desired.publishedAt;
        ctx.log.info({ tenant: trl.spec.tenant, generation: desired.generation }, 'tenant limits published');
      }
      let acks = summarizeAcks(await this.deps.limits.acknowledgements(trl.spec.tenant), desired.generation);
      // Just announced: the gateways apply and acknowledge within milliseconds, so wait for them here and
      // write the status once (Applied=True) instead of Applied=False now and Applied=True a poll later.
      if (publishedNow && !acks.complete && acks.live > 0)
        acks = await this.awaitAcknowledgements(trl.spec.tenant, desired.generation);
      return { kind: 'applied', publishedNow, publishedAt, acks };
    } catch (err) {
      return { kind: 'redisUnavailable', error: describeError(err) };
    }
  }

  /**
   * Polls the acknowledgements (5 ms, doubling up to 100 ms) until every live replica acknowledged
   * `generation` or ackWaitMs has passed; returns the last summary either way (pending replicas named).
   */
  private async awaitAcknowledgements(tenant: string, generation: number): Promise<AckSummary> {
    const deadline = Date.now() + (this.deps.ackWaitMs ?? ACK_WAIT_MS);
    let delay = 5;
    for (;;) {
      const left = deadline - Date.now();
      if (left > 0) await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 100);
      const acks = summarizeAcks(await this.deps.limits.acknowledgements(tenant), generation);
      if (acks.complete || acks.live === 0 || Date.now() >= deadline) return acks;
    }
  }

  /** Restores the default for the tenant (deletes its config key and announces it), then lets the resource go. */
  private async finalize(
    trl: TenantRateLimit,
    ctx: ReconcileContext<TenantRateLimit>,
  ): Promise<ReconcileResult> {
    if (!hasFinalizer(trl, FINALIZER)) return {};
    const tenant = trl.spec.tenant;
    const removed = await this.deps.limits.withdraw(tenant, trl.metadata.uid ?? '');
    if (removed) {
      this.deps.appliedGauge.remove({ tenant });
      await ctx.events.record(
        trl,
        'Normal',
        'Withdrawn',
        'Delete',
        `limits for tenant ${tenant} removed from Redis: the gateway default (GATEWAY_RATE_LIMIT_RPM) applies`,
      );
    }
    await removeFinalizer(ctx.client, trl, FINALIZER);
    return {};
  }

  private async recordEvents(
    trl: TenantRateLimit,
    outcome: Outcome,
    ready: { status: string; reason: string; message: string } | undefined,
    before: { status: string; reason: string } | undefined,
    ctx: ReconcileContext<TenantRateLimit>,
  ): Promise<void> {
    const changed = !before || before.status !== ready?.status || before.reason !== ready?.reason;
    // One Event per published generation: Acknowledged when every live replica acknowledged it within the
    // wait, else Published (naming the laggards) and, once they acknowledge in a later reconcile, Acknowledged.
    if (outcome.kind === 'applied' && outcome.publishedNow) {
      const generation = trl.metadata.generation;
      const tenant = trl.spec.tenant;
      if (outcome.acks.complete)
        await ctx.events.record(
          trl,
          'Normal',
          'Acknowledged',
          'Apply',
          `generation ${generation} of tenant ${tenant} limits written to Redis and acknowledged by ${outcome.acks.live} gateway replica${outcome.acks.live === 1 ? '' : 's'}`,
        );
      else {
        const { live, pending } = outcome.acks;
        await ctx.events.record(
          trl,
          'Normal',
          'Published',
          'Publish',
          `generation ${generation} of tenant ${tenant} limits written to Redis and announced; ${
            live === 0
              ? 'no gateway replica is running to acknowledge it'
              : `not yet acknowledged by ${pending.length} of ${live} gateway replicas (${pending.slice(0, 5).join(', ')})`
          }`,
        );
      }
      return;
    }
    if (!changed || !ready) return;
    if (outcome.kind === 'applied' && outcome.acks.complete) {
      await ctx.events.record(trl, 'Normal', 'Acknowledged', 'Apply', ready.message);
    } else if (outcome.kind === 'invalid') {
      await ctx.events.record(trl, 'Warning', 'InvalidSpec', 'Validate', ready.message);
    } else if (outcome.kind === 'notOwned') {
      await ctx.events.record(trl, 'Warning', 'TenantNotOwned', 'Validate', ready.message);
    } else if (outcome.kind === 'conflict') {
      await ctx.events.record(
        trl,
        'Warning',
        TenantRateLimitReason.DuplicateTenant,
        'Validate',
        ready.message,
      );
    } else if (outcome.kind === 'redisUnavailable') {
      await ctx.events.record(trl, 'Warning', 'RedisUnavailable', 'Publish', ready.message);
    }
  }
}
