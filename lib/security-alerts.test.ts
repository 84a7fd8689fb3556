import { describe, expect, it } from 'vitest';
import { eventProblem } from './event-schemas.js';
import type { EventPublisher, SecurityEvent } from './events.js';
import { toEnvelope } from './kafka-events.js';
import { createLogger } from './log.js';
import { SecurityAlertWatcher, securityAlertConfigFromEnv } from './security-alerts.js';

function aWatcher(env: Record<string, string> = {}) {
  let now = 0;
  let failures = 0;
  const published: { topic: string; event: SecurityEvent }[] = [];
  const events: EventPublisher = {
    publish: async (topic, event) => void published.push({ topic, event }),
    close: async () => {},
  };
  const watcher = new SecurityAlertWatcher({
    config: securityAlertConfigFromEnv(env),
    events,
    producer: 'integration-gateway',
    logger: createLogger({ component: 'test', destination: { write: () => {} } }),
    now: () => now,
    rules: [
      {
        type: 'gateway_signature_failures',
        read: () => failures,
        threshold: 11,
        severity: 'critical',
        description: 'forged tokens',
      },
    ],
  });
  return {
    watcher,
    published,
    advance: (seconds: number, more = 0) => {
      now += seconds * 1000;
      failures += more;
    },
  };
}

describe('security alerts', () => {
  it('fires when more than ten signature failures fall within a minute, once per cooldown', async () => {
    const w = aWatcher();
    await w.watcher.check();
    w.advance(30, 10);
    expect(await w.watcher.check()).toEqual([]); // ten: not more than ten
    w.advance(20, 1);
    expect(await w.watcher.check()).toEqual(['gateway_signature_failures']);
    w.advance(10, 20);
    expect(await w.watcher.check()).toEqual([]); // cooldown
    expect(w.published).toHaveLength(1);
    const { topic, event } = w.published[0]!;
    expect(topic).toBe('security.alerts.v1');
    // What is published matches its schema (lib/event-schemas.ts), as the outbox checks.
    const envelope = toEnvelope(event, 'integration-gateway');
    expect(eventProblem(envelope.type, topic, envelope.data)).toBeUndefined();
    expect(envelope.data).toMatchObject({
      count: 11,
      threshold: 11,
      window_seconds: 60,
      severity: 'critical',
    });
  });

  it('does not count failures older than the window', async () => {
    const w = aWatcher();
    await w.watcher.check();
    for (let i = 0; i < 12; i++) {
      w.advance(10, 1); // one every 10 s: six per minute
      expect(await w.watcher.check()).toEqual([]);
    }
  });

  it('reads its configuration from the runbook names, refusing a bad webhook URL', () => {
    expect(securityAlertConfigFromEnv({ SECURITY_ALERT_TOPIC: 'alerts.x' }).topic).toBe('alerts.x');
    expect(() => securityAlertConfigFromEnv({ SECURITY_ALERT_WEBHOOK_URL: 'ftp://x' })).toThrow(
      /SECURITY_ALERT_WEBHOOK_URL/,
    );
  });
});
