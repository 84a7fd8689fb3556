import { describe, expect, it } from 'vitest';
import { aDrill, aKey, aPromotion, aRateLimit, aRotation, at, NOW } from '../fixtures.test-support.js';
import { ansi, plain, stripAnsi } from '../style.js';
import { conditionsNotFine } from './common.js';
import { renderDrill, runProgress } from './drill.js';
import { renderOverview } from './list.js';
import { approvalState, renderSecretPromotion } from './secret-promotion.js';
import { renderSigningKeyRotation, renderTimeline, stateAt, timeLeft } from './signing-key-rotation.js';
import { applyState, renderTenantRateLimit } from './tenant-rate-limit.js';

const lineOf = (text: string, start: string) => text.split('\n').find((l) => l.trimStart().startsWith(start));

describe('the SigningKeyRotation screen', () => {
  const skr = aRotation();
  const text = renderSigningKeyRotation(skr, [], NOW, plain);

  it('lists each key with state, times and what happens next', () => {
    expect(lineOf(text, 'k3')).toMatch(/k3\s+next\s+2026-12-02 10:00Z\s+-\s+-\s+signs in 1d/);
    expect(lineOf(text, 'k2')).toMatch(
      /k2\s+active\s+2026-11-02 10:00Z\s+2026-11-04 10:00Z\s+2026-12-04 10:00Z\s+retires in 1d/,
    );
    expect(lineOf(text, 'k1 ')).toMatch(/k1\s+retired.*leaves JWKS in 20m/);
  });

  it('says which services loaded the current set', () => {
    expect(lineOf(text, 'auth-service')).toMatch(/auth-service\s+yes/);
    expect(lineOf(text, 'integration-gateway')).toMatch(/integration-gateway\s+no.*reports an older key set/);
  });

  it('shows the next rotation and the conditions that are not fine, not the fine or informational ones', () => {
    expect(text).toContain('Next rotation: 2026-12-04 10:00Z (in 1d)');
    expect(text).toMatch(/ServicesLoaded\s+False\s+WaitingForServices/);
    expect(text).not.toMatch(/^\s+Rotating/m);
  });

  it('is plain text when piped and coloured on a terminal', () => {
    expect(text).not.toContain('\x1b[');
    const coloured = renderSigningKeyRotation(skr, [], NOW, ansi);
    expect(coloured).toContain('\x1b[32mactive');
    expect(stripAnsi(coloured).split('\n').length).toBe(
      stripAnsi(renderSigningKeyRotation(skr, [], NOW, ansi)).split('\n').length,
    );
  });

  it('lists recent events, newest first', () => {
    const withEvents = renderSigningKeyRotation(
      skr,
      [
        { type: 'Normal', reason: 'Rotated', message: 'k2 signs', lastTimestamp: at('2026-11-04T10:00:00Z') },
        {
          type: 'Warning',
          reason: 'ServiceNotLoaded',
          message: 'gateway',
          lastTimestamp: at('2026-12-03T09:00:00Z'),
          count: 3,
        },
      ],
      NOW,
      plain,
    );
    const events = withEvents.slice(withEvents.indexOf('Recent events:'));
    expect(events.indexOf('ServiceNotLoaded')).toBeLessThan(events.indexOf('Rotated'));
    expect(events).toContain('gateway (x3)');
  });
});

describe('the key timeline', () => {
  const skr = aRotation();

  it.each([
    ['a next key before it signs', 'k3', '2026-12-03T00:00:00Z', 'next'],
    ['the next key after the next rotation time', 'k3', '2026-12-05T00:00:00Z', 'active'],
    ['the active key now', 'k2', '2026-12-03T00:00:00Z', 'active'],
    ['the active key after the next rotation (retired)', 'k2', '2026-12-05T00:00:00Z', 'retired'],
    ['a retired key before its removal', 'k1', '2026-11-20T10:10:00Z', 'retired'],
    ['a key before it was published', 'k3', '2026-12-01T00:00:00Z', undefined],
  ])('%s: %s at %s is %s', (_name, kid, when, state) => {
    const key = skr.status!.keys!.find((k) => k.kid === kid)!;
    expect(stateAt(key, skr, Date.parse(when))).toBe(state);
  });

  it('draws one row per key and marks now (ASCII when plain)', () => {
    const lines = renderTimeline(skr, NOW, plain, 40).split('\n');
    expect(lines[0]).toMatch(/^Timeline 2026-10-03 10:00Z → 2026-12-04 10:00Z/);
    const row = (kid: string) => lines.find((l) => l.trimStart().startsWith(`${kid} `))!;
    expect(row('k2')).toMatch(/\|[ -]*#+\|$/);
    expect(row('k3')).toMatch(/-+\|$/);
    expect(lines.some((l) => /^\s+\^\s*$/.test(l))).toBe(true);
  });

  it('marks where a key was revoked', () => {
    const revoked = aRotation({
      keys: [
        aKey('k2', 'active', {
          publishedAt: at('2026-11-02T10:00:00Z'),
          activatedAt: at('2026-11-04T10:00:00Z'),
        }),
        aKey('kx', 'revoked', {
          publishedAt: at('2026-11-10T10:00:00Z'),
          revokedAt: at('2026-11-20T10:00:00Z'),
        }),
      ],
    });
    expect(renderTimeline(revoked, NOW, plain)).toMatch(/kx\s+\|[ -]*x\s*\|/);
  });

  it('says what happens next to each kind of key', () => {
    expect(timeLeft(aKey('r', 'revoked'), skr, NOW)).toBe('removed from JWKS');
  });
});

describe('the SecretPromotion screen', () => {
  it('shows the plan as a diff table per target with fingerprints, never values', () => {
    const text = renderSecretPromotion(aPromotion(), [], NOW, plain);
    expect(text).toContain('Plan plan-abc123');
    expect(text).toContain('target staging: novapos/auth/config v3 → novapos/auth/config (target at v2)');
    expect(lineOf(text, 'DB_PASSWORD')).toMatch(/~ change\s+hmac-sha256:…|~ change\s+hmac-sha256:a/);
    expect(lineOf(text, 'NEW_FLAG')).toMatch(/\+ add\s+hmac-sha256:c\S*\s+-$/);
    expect(text).toContain('Approval: waiting for approval of the current plan');
  });

  it.each([
    [
      'approved for the current plan',
      { approval: { planHash: 'plan-abc123', approvedBy: 'alice' } },
      /^approved by alice/,
    ],
    [
      'approved for an older plan',
      { approval: { planHash: 'plan-old', approvedBy: 'bob' } },
      /is for an older plan/,
    ],
    ['no plan yet', { plan: undefined }, /nothing to approve/],
  ])('approval state: %s', (_name, status, want) => {
    expect(approvalState(aPromotion(status as never))).toMatch(want);
  });

  it('shows conflicts and history', () => {
    const text = renderSecretPromotion(
      aPromotion({
        phase: 'Conflict',
        conflicts: [
          {
            target: 'staging',
            path: 'novapos/auth/config',
            plannedVersion: 2,
            currentVersion: 3,
            changedKeys: ['DB_PASSWORD'],
          },
        ],
        history: [
          {
            action: 'promote',
            planHash: 'plan-old',
            at: at('2026-12-01T10:00:00Z'),
            result: 'Succeeded',
            approvedBy: 'alice',
          },
        ],
      }),
      [],
      NOW,
      plain,
    );
    expect(lineOf(text, 'staging  ')).toMatch(/staging\s+novapos\/auth\/config\s+v2\s+v3\s+DB_PASSWORD/);
    expect(text).toMatch(/promote\s+plan-old\s+Succeeded\s+alice/);
  });
});

describe('the TenantRateLimit screen', () => {
  it.each([
    ['acknowledged', {}, /generation 2 acknowledged by 2 replica/],
    ['not yet applied', { appliedGeneration: 1 }, /generation 2 not yet applied \(gateway runs 1\)/],
    ['published, no ack', { acknowledgedAt: undefined }, /waiting for gateway replicas/],
    ['never written', { appliedGeneration: undefined }, /not yet written/],
  ])('gateway state: %s', (_name, status, want) => expect(applyState(aRateLimit(status))).toMatch(want));

  it('shows limits, fallback and overrides', () => {
    const text = renderTenantRateLimit(aRateLimit(), [], NOW, plain);
    expect(text).toContain('Limit: 600/min + burst 100');
    expect(text).toContain('localFallback (100/min + 10 per replica)');
    expect(lineOf(text, 'route')).toMatch(/route\s+\/v1\/payments\s+60\s+0/);
  });
});

describe('the drill screen', () => {
  it('shows the last run step by step with figures', () => {
    const text = renderDrill(aDrill(), [], NOW, plain);
    expect(text).toMatch(/Run run-2 \(runNow\) Failed\s+started 2026-12-03 09:40Z, took 2m/);
    expect(lineOf(text, 'keyRotation')).toMatch(/keyRotation\s+Passed\s+1m\s+failedRequests=0 requests=1200/);
    expect(lineOf(text, 'alertDelivery')).toMatch(
      /alertDelivery\s+Failed\s+1m\s+-\s+pagerduty-critical got nothing/,
    );
  });

  it('has a progress line for a run in flight', () => {
    const run = { ...aDrill().status!.lastRuns![0]!, result: 'Running' as const, finishedAt: undefined };
    run.steps = [{ name: 'keyRotation', result: 'Running', startedAt: at('2026-12-03T09:59:30Z') }];
    expect(runProgress(run, NOW)).toBe('run run-2 Running: keyRotation Running 30s');
  });
});

describe('the overview', () => {
  it('has one line per resource with what is not fine', () => {
    const text = renderOverview([aRotation(), aPromotion(), aRateLimit(), aDrill()], false, NOW, plain);
    expect(lineOf(text, 'skr/auth')).toMatch(
      /skr\/auth\s+True \(Idle\)\s+ServicesLoaded\s+active k2, next rotation in 1d/,
    );
    expect(lineOf(text, 'spromo/auth-to-staging')).toMatch(/AwaitingApproval, plan plan-abc123/);
    expect(lineOf(text, 'trl/acme')).toMatch(/tenant acme 600\/min/);
    expect(lineOf(text, 'drdrill/quarterly')).toMatch(/last Failed/);
  });

  it('says so when there is nothing', () =>
    expect(renderOverview([], false, NOW, plain)).toBe('No NovaPOS resources found.\n'));
});

describe('conditions that are not fine', () => {
  it.each([
    ['Ready False', 'Ready', 'False', true],
    ['Ready True', 'Ready', 'True', false],
    ['Conflict True', 'Conflict', 'True', true],
    ['Conflict False', 'Conflict', 'False', false],
    ['Degraded True', 'Degraded', 'True', true],
    ['Rotating True (informational)', 'Rotating', 'True', false],
    ['Approved Unknown', 'Approved', 'Unknown', true],
  ] as const)('%s', (_name, type, status, bad) => {
    const c = {
      type,
      status,
      reason: 'R',
      message: '',
      lastTransitionTime: at('2026-12-03T00:00:00Z'),
      observedGeneration: 1,
    };
    expect(conditionsNotFine([c]).length > 0).toBe(bad);
  });
});
