import { describeError } from '../../../../lib/errors.js';
import type { Logger } from '../../../../lib/log.js';
import type { RedisFailureMode } from '../../../../lib/ratelimit-contract.js';
import type { CreatedApiKey, DrillAdapters, SyntheticSession } from '../../adapters/drill/ports.js';
import { formatTime } from '../../api/conditions.js';
import {
  type DisasterRecoveryDrillSpec,
  type DrillRun,
  type DrillStepName,
  isSyntheticTenant,
  type StepReport,
} from '../../api/v1alpha1/disasterrecoverydrill.js';
import { formatDuration } from '../../api/validation.js';
import { cleanupRun } from './cleanup.js';
import {
  apiKeyNamePrefix,
  DrillReason,
  runResult,
  stepDeadlineMs,
  syntheticRateLimitName,
} from './desired.js';
import { alertDeliveryStep } from './steps/alert-delivery.js';
import { auditCatchUpStep } from './steps/audit-catch-up.js';
import {
  DEFAULT_RUNNER_TIMING,
  OwnTraffic,
  type RunnerTiming,
  type StepContext,
  type StepOutcome,
} from './steps/context.js';
import { keyRotationStep } from './steps/key-rotation.js';
import { redisOutageStep } from './steps/redis-outage.js';
import { abortReason, pause } from './steps/stats.js';

export type StepFunction = (c: StepContext) => Promise<StepOutcome>;

export const STEP_FUNCTIONS: Record<DrillStepName, StepFunction> = {
  keyRotation: keyRotationStep,
  redisOutage: redisOutageStep,
  auditCatchUp: auditCatchUpStep,
  alertDelivery: alertDeliveryStep,
};

/** The abort guard stopped the drill: real traffic was hurting, or could not be watched. */
export class GuardTripped extends Error {
  override readonly name = 'GuardTripped';
}

export interface RunRequest {
  readonly namespace: string;
  readonly drillName: string;
  readonly spec: DisasterRecoveryDrillSpec;
  /** The run as it was recorded in status (result Running, steps not started). */
  readonly run: DrillRun;
  /** Aborted when the drill is deleted or the operator shuts down. */
  readonly signal: AbortSignal;
  /** Every change of the run (step started/finished, end): the controller puts it in status. */
  readonly onProgress: (run: DrillRun) => void;
  readonly onEvent: (type: 'Normal' | 'Warning', reason: string, note: string) => void;
}

export interface DrillRunnerDeps {
  readonly adapters: DrillAdapters;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly timing?: Partial<RunnerTiming>;
  /** Test hook: replaces the step functions. */
  readonly steps?: Partial<Record<DrillStepName, StepFunction>>;
}

interface Setup {
  readonly tenant?: string;
  readonly session?: SyntheticSession;
  readonly apiKey?: CreatedApiKey;
  readonly expectedMode?: RedisFailureMode;
}

/**
 * Runs one drill run inside the operator process: setup (synthetic TenantRateLimit, session, API key),
 * the steps in order, each bounded in time and watched by the abort guard, then cleanup, always. Never
 * throws: whatever happens ends up in the returned run (and, on the way, in `onProgress`).
 */
export class DrillRunner {
  private readonly now: () => Date;
  private readonly timing: RunnerTiming;
  private readonly steps: Record<DrillStepName, StepFunction>;

  constructor(private readonly deps: DrillRunnerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.timing = { ...DEFAULT_RUNNER_TIMING, ...deps.timing };
    this.steps = { ...STEP_FUNCTIONS, ...deps.steps };
  }

  async execute(req: RunRequest): Promise<DrillRun> {
    const log = this.deps.log.child({ runId: req.run.id });
    let run: DrillRun = req.run;
    const update = (patch: Partial<DrillRun>) => {
      run = { ...run, ...patch };
      req.onProgress(run);
    };
    const setStep = (name: DrillStepName, patch: Partial<StepReport>) =>
      update({ steps: run.steps.map((s) => (s.name === name ? { ...s, ...patch } : s)) });
    const skipRest = (why: string) =>
      update({
        steps: run.steps.map((s) =>
          s.result === 'Skipped' && !s.startedAt ? { ...s, message: `not run: ${why}` } : s,
        ),
      });

    let failure: { reason: string; message: string } | undefined;
    let setup: Setup = {};
    req.onEvent(
      'Normal',
      DrillReason.RunStarted,
      `run ${run.id} started (${run.trigger}): ${run.steps.map((s) => s.name).join(', ')}`,
    );
    try {
      setup = await this.setUp(req, log);
    } catch (err) {
      failure = { reason: DrillReason.SetupFailed, message: `setup failed: ${describeError(err)}` };
      skipRest('setup failed');
      req.onEvent('Warning', DrillReason.SetupFailed, `run ${run.id}: ${failure.message}`);
    }

    for (const step of failure ? [] : run.steps.map((s) => s.name)) {
      if (req.signal.aborted) {
        failure = {
          reason: DrillReason.Aborted,
          message: `the drill was stopped: ${abortReason(req.signal)}`,
        };
        skipRest(failure.message);
        break;
      }
      setStep(step, { result: 'Running', startedAt: formatTime(this.now()), message: 'running' });
      req.onEvent('Normal', DrillReason.StepStarted, `run ${run.id}: step ${step} started`);
      const { outcome, guard } = await this.runStep(req, step, setup, log);
      setStep(step, {
        result: outcome.passed ? 'Passed' : 'Failed',
        finishedAt: formatTime(this.now()),
        message: outcome.message,
        figures: outcome.figures,
      });
      const figures = Object.entries(outcome.figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      req.onEvent(
        outcome.passed ? 'Normal' : 'Warning',
        outcome.passed ? DrillReason.StepPassed : DrillReason.StepFailed,
        `run ${run.id}: step ${step} ${outcome.passed ? 'passed' : 'failed'}: ${outcome.message}${figures ? ` [${figures}]` : ''}`,
      );
      if (guard) {
        failure = { reason: DrillReason.Aborted, message: `aborted by the guard: ${guard}` };
        skipRest('the drill was aborted by the guard');
        break;
      }
    }

    const cleanupSignal = AbortSignal.timeout(this.timing.cleanupTimeoutMs);
    const problems = await cleanupRun(this.deps.adapters, {
      namespace: req.namespace,
      drillName: req.drillName,
      run,
      spec: req.spec,
      session: setup.session,
      signal: cleanupSignal,
      log,
    });
    if (problems.length) {
      const message = `cleanup incomplete: ${problems.join('; ')}`;
      failure = failure
        ? { ...failure, message: `${failure.message}; ${message}` }
        : { reason: DrillReason.CleanupFailed, message };
      req.onEvent('Warning', DrillReason.CleanupFailed, `run ${run.id}: ${message}`);
    }
    const result = runResult(run.steps, failure?.message);
    update({
      result: result === 'Running' ? 'Failed' : result,
      finishedAt: formatTime(this.now()),
      ...(failure ? { reason: failure.reason, message: failure.message } : {}),
    });
    log.info(
      { result: run.result, steps: run.steps.map((s) => `${s.name}:${s.result}`) },
      'drill run finished',
    );
    return run;
  }

  /**
   * The synthetic tenant's TenantRateLimit (acknowledged by the gateway), session and API key; for the
   * auditCatchUp step alone, only the session (its events come from the synthetic admin, not the gateway).
   */
  private async setUp(req: RunRequest, log: Logger): Promise<Setup> {
    const { spec, namespace, drillName } = req;
    const { keyRotation, redisOutage, auditCatchUp } = spec.steps;
    if (!keyRotation && !redisOutage && !auditCatchUp) return {};
    const synthetic = spec.syntheticTenant;
    if (!synthetic)
      throw new Error(
        'spec.syntheticTenant is required by the keyRotation, redisOutage and auditCatchUp steps',
      );
    const tenant = synthetic.tenant;
    if (!isSyntheticTenant(tenant))
      throw new Error(`refusing tenant "${tenant}": not a synthetic (drill-) tenant`);
    const adapters = this.deps.adapters;
    const signal = AbortSignal.any([req.signal, AbortSignal.timeout(this.timing.appliedTimeoutMs + 60_000)]);
    if (!keyRotation && !redisOutage) {
      const credentials = await adapters.credentials.read(namespace, synthetic.credentialsSecretRef.name);
      const session = await adapters.tenants.signIn(tenant, credentials, signal);
      log.info({ tenant }, 'drill setup done (synthetic admin signed in)');
      return { tenant, session };
    }

    let limitName: string;
    if (redisOutage?.tenantRateLimitRef) {
      limitName = redisOutage.tenantRateLimitRef.name;
      const view = await adapters.rateLimits.get(namespace, limitName);
      if (!view) throw new Error(`TenantRateLimit ${limitName} not found in namespace ${namespace}`);
      if (!isSyntheticTenant(view.tenant))
        throw new Error(
          `refusing TenantRateLimit ${limitName}: its tenant "${view.tenant}" is not a synthetic (drill-) tenant`,
        );
      if (view.tenant !== tenant)
        throw new Error(
          `TenantRateLimit ${limitName} is for tenant ${view.tenant}, not the synthetic tenant ${tenant}`,
        );
    } else {
      limitName = syntheticRateLimitName(drillName);
      await adapters.rateLimits.ensure(namespace, limitName, drillName, {
        tenant,
        requestsPerMinute: synthetic.requestsPerMinute,
        redisFailureMode: synthetic.redisFailureMode,
        localFallbackRequestsPerMinute: synthetic.localFallbackRequestsPerMinute,
      });
    }
    const deadline = this.now().getTime() + this.timing.appliedTimeoutMs;
    let view = await adapters.rateLimits.get(namespace, limitName);
    while (!view?.applied && !signal.aborted && this.now().getTime() < deadline) {
      await pause(Math.min(500, this.timing.pollMs), signal);
      view = await adapters.rateLimits.get(namespace, limitName);
    }
    if (!view?.applied) {
      throw new Error(
        `TenantRateLimit ${limitName} was not acknowledged by every gateway replica within ${formatDuration(this.timing.appliedTimeoutMs)}${view?.appliedMessage ? ` (${view.appliedMessage})` : ''}: is the TenantRateLimit controller running and the gateway connected to Redis?`,
      );
    }

    const credentials = await adapters.credentials.read(namespace, synthetic.credentialsSecretRef.name);
    const session = await adapters.tenants.signIn(tenant, credentials, signal);
    const apiKey = redisOutage
      ? await session.createApiKey(`${apiKeyNamePrefix(drillName)}${req.run.id}`)
      : undefined;
    log.info({ tenant, tenantRateLimit: limitName, apiKeyPrefix: apiKey?.prefix }, 'drill setup done');
    return { tenant, session, apiKey, expectedMode: view.redisFailureMode };
  }

  /** One step under its time bound, with the abort guard watching the gateway while it sends traffic. */
  private async runStep(
    req: RunRequest,
    step: DrillStepName,
    setup: Setup,
    log: Logger,
  ): Promise<{ outcome: StepOutcome; guard?: string }> {
    const bound = stepDeadlineMs(req.spec, step);
    const stepAbort = new AbortController();
    const timer = setTimeout(
      () => stepAbort.abort(new Error(`the step exceeded its time bound of ${formatDuration(bound)}`)),
      bound,
    );
    const signal = AbortSignal.any([req.signal, stepAbort.signal]);
    const own = new OwnTraffic();
    const guardStop = new AbortController();
    // The guard watches the gateway while a step sends traffic through it; these two send none.
    const quiet = step === 'alertDelivery' || step === 'auditCatchUp';
    const guard = quiet ? Promise.resolve() : this.guard(own, stepAbort, guardStop.signal);
    let outcome: StepOutcome;
    try {
      outcome = await this.steps[step]({
        namespace: req.namespace,
        drillName: req.drillName,
        runId: req.run.id,
        spec: req.spec,
        adapters: this.deps.adapters,
        timing: this.timing,
        log: log.child({ step }),
        now: this.now,
        signal,
        own,
        ...setup,
      });
    } catch (err) {
      outcome = {
        passed: false,
        message: signal.aborted ? `stopped: ${abortReason(signal)}` : `error: ${describeError(err)}`,
        figures: {},
      };
    } finally {
      clearTimeout(timer);
      guardStop.abort();
      await guard;
    }
    const tripped =
      stepAbort.signal.reason instanceof GuardTripped ? stepAbort.signal.reason.message : undefined;
    if (tripped && outcome.passed) outcome = { ...outcome, passed: false, message: `stopped: ${tripped}` };
    return { outcome, guard: tripped };
  }

  /**
   * Watches the gateway's counters while a step runs: when real (non-drill) requests fail above the
   * allowed share, or the counters cannot be read for too long, the step is aborted.
   */
  private async guard(own: OwnTraffic, stepAbort: AbortController, stop: AbortSignal): Promise<void> {
    const t = this.timing;
    const read = () => this.deps.adapters.gateway.counters();
    let base = await read().catch(() => undefined);
    let baseOwn = { requests: own.requests, errors: own.errors };
    let lastRead = this.now().getTime();
    let lastError = '';
    while (!stop.aborted && !stepAbort.signal.aborted) {
      await pause(t.guardIntervalMs, stop);
      if (stop.aborted) return;
      try {
        const cur = await read();
        lastRead = this.now().getTime();
        if (!base) {
          base = cur;
          baseOwn = { requests: own.requests, errors: own.errors };
          continue;
        }
        const realRequests = cur.requests - base.requests - (own.requests - baseOwn.requests);
        const realErrors = cur.errors - base.errors - (own.errors - baseOwn.errors);
        if (realRequests >= t.guardMinRequests && realErrors / realRequests > t.guardMaxErrorRatio) {
          stepAbort.abort(
            new GuardTripped(
              `the gateway's error rate for real traffic rose to ${Math.round((100 * realErrors) / realRequests)}% (${realErrors} of ${realRequests} requests, limit ${Math.round(100 * t.guardMaxErrorRatio)}%) during the step`,
            ),
          );
          return;
        }
      } catch (err) {
        lastError = describeError(err);
        if (this.now().getTime() - lastRead > t.guardBlindMs) {
          stepAbort.abort(
            new GuardTripped(
              `the gateway's counters could not be read for ${formatDuration(t.guardBlindMs)} (${lastError}): the drill cannot watch real traffic`,
            ),
          );
          return;
        }
      }
    }
  }
}
