import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../../lib/log.js';
import { consumerStateFromText } from '../../../adapters/drill/audit-service.js';
import type { AuditAdmin, DrillAdapters, SyntheticSession } from '../../../adapters/drill/ports.js';
import { cleanupRun } from '../cleanup.js';
import { auditCatchUpStep, matchChained } from './audit-catch-up.js';
import { DEFAULT_RUNNER_TIMING, OwnTraffic, type StepContext } from './context.js';

/**
 * The step's decisions with in-memory adapters (the real audit-service, Kafka and auth-service:
 * test/drills/audit-catch-up.int.test.ts).
 */

describe('matchChained', () => {
  const expected = new Set(['api_key_created/k1', 'api_key_revoked/k1']);
  it('counts the expected events once each, and those chained twice', () => {
    expect(
      matchChained(expected, [
        { seq: 1, type: 'login_succeeded' },
        { seq: 2, type: 'api_key_created', apiKeyId: 'k1' },
        { seq: 3, type: 'api_key_created', apiKeyId: 'k2' },
        { seq: 4, type: 'api_key_revoked', apiKeyId: 'k1' },
        { seq: 5, type: 'api_key_revoked', apiKeyId: 'k1' },
      ]),
    ).toEqual({ chained: 2, twice: 1 });
  });
});

describe('consumerStateFromText', () => {
  it('sums the lag over topics and reads the head and the pause', () => {
    const text = [
      '# HELP audit_consumer_lag x',
      'audit_consumer_lag{topic="audit.events.v1"} 7',
      'audit_consumer_lag{topic="security.mfa.activity"} 2',
      'audit_chain_length 41',
      'audit_consumer_paused 1',
    ].join('\n');
    expect(consumerStateFromText(text)).toEqual({ lag: 9, head: 41, paused: true });
  });
  it('refuses a /metrics that is not the audit-service’s', () => {
    expect(() => consumerStateFromText('gateway_requests_total 3')).toThrow(/no audit_chain_length/);
  });
});

function context(audit: Partial<AuditAdmin> | undefined, chainWhilePaused = false) {
  let paused = false;
  let n = 0;
  const created: string[] = [];
  const session: SyntheticSession = {
    accessToken: () => 't',
    refresh: async () => 't',
    createApiKey: async () => {
      const id = `k${++n}`;
      created.push(id);
      return { id, prefix: 'npk_x', key: 'secret' };
    },
    listApiKeys: async () => [],
    revokeApiKey: async () => {},
    logoutAll: async () => {},
  };
  const chainedNow = () =>
    !paused || chainWhilePaused
      ? created.flatMap((id, i) => [
          { seq: 2 * i + 1, type: 'api_key_created', apiKeyId: id },
          { seq: 2 * i + 2, type: 'api_key_revoked', apiKeyId: id },
        ])
      : [];
  const real: AuditAdmin = {
    pause: async () => {
      paused = true;
    },
    resume: async () => {
      paused = false;
    },
    state: async () => ({ lag: paused ? 2 * created.length : 0, head: 0, paused }),
    chained: async () => chainedNow(),
    verify: async () => ({ ok: true, checked: 2 * created.length }),
  };
  const adapters = {
    secrets: { read: async () => 'the-admin-token' },
    ...(audit === undefined ? {} : { audit: { ...real, ...audit } }),
  } as unknown as DrillAdapters;
  const c: StepContext = {
    namespace: 'ns',
    drillName: 'd',
    runId: 'r1',
    spec: {
      schedule: '0 6 1 1 *',
      suspend: false,
      concurrencyPolicy: 'Forbid',
      historyLimit: 5,
      steps: {
        auditCatchUp: {
          adminTokenSecretRef: { name: 'audit-admin', key: 'token' },
          events: 4,
          maxPause: '10s',
          timeout: '2s',
        },
      },
    },
    adapters,
    timing: { ...DEFAULT_RUNNER_TIMING, pollMs: 20 },
    log: createLogger({ component: 'test', level: 'silent' }),
    now: () => new Date(),
    signal: new AbortController().signal,
    own: new OwnTraffic(),
    tenant: 'drill-x',
    session,
  };
  return { c, isPaused: () => paused };
}

describe('auditCatchUpStep', () => {
  it('passes when every synthetic event is chained after the resume and the chain verifies', async () => {
    const { c, isPaused } = context({});
    const out = await auditCatchUpStep(c);
    expect(out.message).toMatch(/^4 synthetic events produced while the consumer was paused/);
    expect(out).toMatchObject({ passed: true, figures: { events: 4, chainedEvents: 4, maxLag: 4, lag: 0 } });
    expect(isPaused()).toBe(false);
  });

  it('fails naming the setting when the operator has no audit-service URL', async () => {
    const out = await auditCatchUpStep(context(undefined).c);
    expect(out).toMatchObject({ passed: false });
    expect(out.message).toMatch(/has no DRILL_AUDIT_SERVICE_URL/);
  });

  it('fails when events were chained while the consumer was said to be paused, and resumes it', async () => {
    const { c, isPaused } = context({}, true);
    const out = await auditCatchUpStep(c);
    expect(out.passed).toBe(false);
    expect(out.message).toMatch(/chained 4 of the 4 synthetic events while its consumer was paused/);
    expect(isPaused()).toBe(false);
  });

  it('fails with the broken link when the chain does not verify', async () => {
    const out = await auditCatchUpStep(
      context({
        verify: async () => ({ ok: false, checked: 3, firstBroken: { seq: 3, reason: 'hash_mismatch' } }),
      }).c,
    );
    expect(out.passed).toBe(false);
    expect(out.message).toMatch(/does not verify: first broken link at seq 3 \(hash_mismatch\)/);
    expect(out.figures['catchUpSeconds']).toBeGreaterThanOrEqual(0);
  });

  it('never puts the token in a message', async () => {
    const out = await auditCatchUpStep(
      context({
        pause: async () => {
          throw new Error('audit-service pause: HTTP 503 error');
        },
      }).c,
    );
    expect(out.message).toBe(
      "could not pause the audit-service's consumer: audit-service pause: HTTP 503 error",
    );
    expect(JSON.stringify(out)).not.toContain('the-admin-token');
  });
});

describe('cleanup of a run interrupted in the auditCatchUp step', () => {
  const run = (result: 'Running' | 'Failed') => ({
    id: 'r1',
    trigger: 'runNow' as const,
    startedAt: '2026-01-01T00:00:00Z',
    result: 'Running' as const,
    steps: [{ name: 'auditCatchUp' as const, result }],
  });
  const cleanup = async (result: 'Running' | 'Failed') => {
    const { c } = context({});
    const resumed: string[] = [];
    const adapters = {
      ...c.adapters,
      audit: { ...c.adapters.audit!, resume: async (token: string) => void resumed.push(token) },
    };
    const problems = await cleanupRun(adapters, {
      namespace: 'ns',
      drillName: 'd',
      run: run(result),
      spec: c.spec,
      signal: new AbortController().signal,
      log: c.log,
    });
    return { problems, resumed };
  };

  it('resumes the consumer with the token from the Secret (an operator restart mid-step)', async () => {
    expect(await cleanup('Running')).toEqual({ problems: [], resumed: ['the-admin-token'] });
  });

  it('leaves it alone once the step finished (the step resumed it itself)', async () => {
    expect(await cleanup('Failed')).toEqual({ problems: [], resumed: [] });
  });
});
