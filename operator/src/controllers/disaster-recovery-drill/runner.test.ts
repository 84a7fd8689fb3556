import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../../lib/log.js';
import type { DrillAdapters, GatewayCounters, SyntheticSession } from '../../adapters/drill/ports.js';
import type { DisasterRecoveryDrillSpec } from '../../api/v1alpha1/disasterrecoverydrill.js';
import { newRun } from './desired.js';
import { DrillRunner, type RunRequest, type StepFunction } from './runner.js';

/**
 * The runner's orchestration with in-memory adapters (what each adapter was asked is recorded): time
 * bounds, the abort guard, cleanup after every outcome. The adapters themselves are tested against the
 * real components in test/drills/.
 */

const log = createLogger({ component: 'test', level: 'silent' });

function fakes(counters: () => GatewayCounters = () => ({ requests: 0, errors: 0 })) {
  const calls: string[] = [];
  const session: SyntheticSession = {
    accessToken: () => 'token',
    refresh: async () => 'token',
    createApiKey: async (name) => {
      calls.push(`createApiKey ${name}`);
      return { id: 'k1', prefix: 'npk_x', key: 'secret' };
    },
    listApiKeys: async () => [{ id: 'k1', name: 'drill-d-r1' }],
    revokeApiKey: async (id) => void calls.push(`revokeApiKey ${id}`),
    logoutAll: async () => void calls.push('logoutAll'),
  };
  const adapters: DrillAdapters = {
    credentials: { read: async () => ({ email: 'a@b', password: 'p', totpSecret: 's' }) },
    tenants: { signIn: async () => session },
    traffic: { run: async () => {} },
    faults: {
      inject: async (t) => void calls.push(`inject ${t}`),
      clear: async (t) => void calls.push(`clear ${t}`),
      isSet: async () => false,
    },
    rateLimits: {
      get: async (_ns, name) => ({
        tenant: 'drill-x',
        redisFailureMode: 'failClosed',
        applied: true,
        createdByDrill: name,
      }),
      ensure: async (_ns, name) => void calls.push(`ensure ${name}`),
      deleteIfOwned: async (_ns, name) => {
        calls.push(`delete ${name}`);
        return true;
      },
    },
    rotation: {
      get: async () => undefined,
      rotateNow: async () => {},
      shortenLeadTime: async () => {},
      restoreLeadTime: async () => false,
    },
    alerts: {
      fire: async () => {},
      resolve: async (a) => void calls.push(`resolve ${a.runId}`),
      deliveries: async () => [],
      routedTo: async () => [],
    },
    gateway: { counters: async () => counters() },
  };
  return { adapters, calls };
}

const spec = (steps: DisasterRecoveryDrillSpec['steps']): DisasterRecoveryDrillSpec => ({
  schedule: '0 6 1 1 *',
  suspend: false,
  concurrencyPolicy: 'Forbid',
  historyLimit: 5,
  syntheticTenant: {
    tenant: 'drill-x',
    credentialsSecretRef: { name: 'creds' },
    requestsPerMinute: 6000,
    redisFailureMode: 'failClosed',
  },
  steps,
});

function request(s: DisasterRecoveryDrillSpec, events: string[] = []): RunRequest {
  return {
    namespace: 'ns',
    drillName: 'd',
    spec: s,
    run: newRun({ id: 'r1', trigger: 'runNow', spec: s, drillName: 'd', owner: 'op', now: new Date() }),
    signal: new AbortController().signal,
    onProgress: () => {},
    onEvent: (type, reason, note) => events.push(`${type} ${reason} ${note}`),
  };
}

/** A step that only ends when it is stopped. */
const hangs: StepFunction = (c) =>
  new Promise((resolve) =>
    c.signal.addEventListener('abort', () =>
      resolve({ passed: false, message: 'never finished', figures: {} }),
    ),
  );

afterEach(() => {
  vi.useRealTimers();
});

describe('DrillRunner', () => {
  it('stops a step at its time bound, fails it, and still cleans up', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { adapters, calls } = fakes();
    const runner = new DrillRunner({ adapters, log, steps: { alertDelivery: hangs } });
    const s = spec({ alertDelivery: { receiver: 'drill', timeout: '1s' } });
    const done = runner.execute(request(s));
    await vi.advanceTimersByTimeAsync(17_001);
    const run = await done;
    expect(run.result).toBe('Failed');
    expect(run.steps[0]).toMatchObject({ result: 'Failed', message: 'never finished' });
    expect(calls).toContain('resolve r1');
  });

  it('lets the guard stop the drill when real traffic fails, skips the rest and restores everything', async () => {
    let requests = 0;
    const { adapters, calls } = fakes(() => {
      requests += 50;
      return { requests, errors: requests / 2 };
    });
    const events: string[] = [];
    const runner = new DrillRunner({
      adapters,
      log,
      timing: { guardIntervalMs: 5, guardMinRequests: 20, guardMaxErrorRatio: 0.05 },
      steps: { redisOutage: hangs },
    });
    const s = spec({
      redisOutage: { tenant: 'drill-x', duration: '1m' },
      alertDelivery: { receiver: 'drill', timeout: '1m' },
    });
    const run = await runner.execute(request(s, events));
    expect(run).toMatchObject({ result: 'Failed', reason: 'Aborted' });
    expect(run.steps[0]).toMatchObject({ name: 'redisOutage', result: 'Failed' });
    expect(run.steps[1]).toMatchObject({
      name: 'alertDelivery',
      result: 'Skipped',
      message: 'not run: the drill was aborted by the guard',
    });
    expect(run.message).toMatch(/error rate for real traffic rose to 50%/);
    expect(calls).toEqual(
      expect.arrayContaining([
        'ensure d-synthetic',
        'createApiKey drill-d-r1',
        'clear drill-x',
        'revokeApiKey k1',
        'logoutAll',
        'delete d-synthetic',
      ]),
    );
    expect(events.some((e) => e.startsWith('Warning DrillStepFailed run r1: step redisOutage failed'))).toBe(
      true,
    );
  });

  it('does not count its own failing requests as real traffic', async () => {
    let requests = 0;
    const { adapters } = fakes(() => ({ requests, errors: requests }));
    const mine: StepFunction = async (c) => {
      for (let i = 0; i < 40; i++) {
        requests++;
        c.own.record({ status: 503, latencyMs: 1, at: Date.now() });
        await new Promise((r) => setTimeout(r, 1));
      }
      return { passed: true, message: 'ok', figures: {} };
    };
    const runner = new DrillRunner({
      adapters,
      log,
      timing: { guardIntervalMs: 5, guardMinRequests: 5 },
      steps: { redisOutage: mine },
    });
    const run = await runner.execute(request(spec({ redisOutage: { tenant: 'drill-x', duration: '1m' } })));
    expect(run.result).toBe('Succeeded');
  });

  it('fails the run without running a step when setup fails, and cleans up what setup made', async () => {
    const { adapters, calls } = fakes();
    const runner = new DrillRunner({
      adapters: {
        ...adapters,
        rateLimits: {
          ...adapters.rateLimits,
          get: async () => ({
            tenant: 'drill-x',
            redisFailureMode: 'failClosed',
            applied: false,
            createdByDrill: 'd',
            appliedMessage: '0 of 1 replicas',
          }),
        },
      },
      log,
      timing: { appliedTimeoutMs: 50, pollMs: 10 },
      steps: { redisOutage: hangs },
    });
    const run = await runner.execute(request(spec({ redisOutage: { tenant: 'drill-x', duration: '1m' } })));
    expect(run).toMatchObject({ result: 'Failed', reason: 'SetupFailed' });
    expect(run.message).toContain(
      'TenantRateLimit d-synthetic was not acknowledged by every gateway replica',
    );
    expect(run.steps[0]).toMatchObject({ result: 'Skipped', message: 'not run: setup failed' });
    expect(calls).toContain('clear drill-x');
  });
});
