import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, eventProblem, eventTypesTable } from './event-schemas.js';
import { SECURITY_TOPICS } from './kafka-topics.js';

const read = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');

describe('event schemas (one per type)', () => {
  it('docs/contracts.md carries the table generated from the schemas, unchanged', () => {
    expect(read('docs/contracts.md')).toContain(eventTypesTable());
  });

  it('every type auth-service publishes is defined, on the topic it is published to', () => {
    // The use cases publish `{ topic: 'mfa' | 'audit', type: '...' }` (domain/use-cases/events.ts).
    const dir = 'services/auth-service/src/domain/use-cases';
    const src = readdirSync(new URL(`../${dir}`, import.meta.url))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => read(`${dir}/${f}`))
      .join('\n');
    const used = [...src.matchAll(/topic:\s*'(mfa|audit)',\s*type:\s*'([a-z_]+)'/g)].map(
      (m) => [m[1], m[2]] as const,
    );
    // The one computed type: `result.ok ? 'mfa_verified' : 'mfa_failed'` on the mfa topic.
    used.push(['mfa', 'mfa_verified'], ['mfa', 'mfa_failed']);
    expect(used.length).toBeGreaterThan(25);
    for (const [topic, type] of used) {
      const spec = EVENT_TYPES[type as keyof typeof EVENT_TYPES];
      expect(spec, type).toBeDefined();
      expect(spec.topic, type).toBe(topic === 'mfa' ? 'mfaActivity' : 'audit');
    }
  });

  it('accepts a valid event and names what is wrong with an invalid one', () => {
    const base = { request_id: 'r1', ip: '10.0.0.1' };
    expect(
      eventProblem('login_succeeded', SECURITY_TOPICS.audit.name, { ...base, amr: ['pwd'] }),
    ).toBeUndefined();
    expect(eventProblem('login_succeeded', 'audit.renamed', { ...base, amr: ['pwd'] })).toBeUndefined();
    expect(eventProblem('admin_action', SECURITY_TOPICS.audit.name, base)).toBe(
      'unknown event type admin_action',
    );
    expect(eventProblem('login_failed', SECURITY_TOPICS.mfaActivity.name, base)).toMatch(
      /belongs on audit\.events\.v1/,
    );
    expect(eventProblem('login_failed', SECURITY_TOPICS.audit.name, { ...base, extra: 1 })).toMatch(
      /^login_failed: /,
    );
    expect(
      eventProblem('account_locked', SECURITY_TOPICS.audit.name, {
        ...base,
        scope: 'planet',
        failures: 5,
        lock_seconds: 60,
      }),
    ).toMatch(/^account_locked: \/scope/);
  });
});
