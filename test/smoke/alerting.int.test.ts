import { describe, expect, inject, it } from 'vitest';
import { type RecordedRequest, sinkRecords } from '../harness/components/sinks.js';
import { HARNESS_ROUTING_KEY } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';

// Alerts posted to the shared Alertmanager travel through its real pagerduty and slack receivers to the
// recording sinks. Each test uses its own alert name, so it finds its own deliveries among others'.
const env = inject('env');

interface PagerDutyEvent {
  routing_key: string;
  dedup_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  payload?: { summary: string; severity: string };
}

async function postAlert(
  labels: Record<string, string>,
  times: { startsAt: string; endsAt?: string },
): Promise<void> {
  const res = await fetch(`${env.alertmanagerUrl}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ labels, annotations: { summary: `smoke alert ${labels.alertname}` }, ...times }]),
  });
  expect(res.status).toBe(200);
}

async function deliveriesMentioning(sinkUrl: string, text: string): Promise<RecordedRequest[]> {
  return (await sinkRecords(sinkUrl)).filter((r) => JSON.stringify(r.body).includes(text));
}

const uniqueName = (prefix: string) => `${prefix}${process.pid}x${Date.now().toString(36)}`;

describe('Alertmanager → PagerDuty', () => {
  it('pages for a critical alert and resolves the same incident when the alert ends', async () => {
    const alertname = uniqueName('SmokeCritical');
    const labels = { alertname, severity: 'critical', service: 'smoke' };
    const startsAt = new Date().toISOString();
    await postAlert(labels, { startsAt });

    const trigger = await waitUntil(
      `a PagerDuty trigger for ${alertname}`,
      async () => {
        const found = await deliveriesMentioning(env.pagerdutyUrl!, alertname);
        return found.find((r) => (r.body as PagerDutyEvent).event_action === 'trigger');
      },
      { timeoutMs: 30_000 },
    );
    const event = trigger.body as PagerDutyEvent;
    expect(trigger.method).toBe('POST');
    expect(trigger.path).toBe('/v2/enqueue');
    expect(event.routing_key).toBe(HARNESS_ROUTING_KEY);
    expect(event.dedup_key).toMatch(/^[0-9a-f]{64}$/);
    expect(event.payload?.summary).toContain(alertname);

    await postAlert(labels, { startsAt, endsAt: new Date(Date.now() - 1000).toISOString() });
    const resolve = await waitUntil(
      `a PagerDuty resolve for ${alertname}`,
      async () =>
        (await sinkRecords(env.pagerdutyUrl!)).find((r) => {
          const b = r.body as PagerDutyEvent;
          return b.event_action === 'resolve' && b.dedup_key === event.dedup_key;
        }),
      { timeoutMs: 30_000 },
    );
    expect((resolve.body as PagerDutyEvent).routing_key).toBe(HARNESS_ROUTING_KEY);
  });
});

describe('Alertmanager → Slack', () => {
  it('sends a warning to Slack and does not page', async () => {
    const alertname = uniqueName('SmokeWarning');
    await postAlert(
      { alertname, severity: 'warning', service: 'smoke' },
      { startsAt: new Date().toISOString() },
    );
    const message = await waitUntil(
      `a Slack message for ${alertname}`,
      async () => (await deliveriesMentioning(env.slackUrl!, alertname))[0],
      { timeoutMs: 30_000 },
    );
    expect(message.path).toBe('/services/sre');
    expect(message.body).toMatchObject({ channel: '#sre-alerts' });
    // Both routes flush after the same 1 s group wait: a page, had there been one, would be there by now.
    await sleep(1500);
    expect(await deliveriesMentioning(env.pagerdutyUrl!, alertname)).toEqual([]);
  });
});
