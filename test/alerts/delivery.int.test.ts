import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertmanagerConfig } from '../../alerts/alertmanager/config.js';
import { FAILED_LOGINS_PER_TENANT_5M } from '../../alerts/src/auth.js';
import { REJECTIONS_PER_TENANT_1M } from '../../alerts/src/gateway.js';
import { runbookUrl } from '../../alerts/src/model.js';
import { type RecordedRequest, type Sink, startSink } from '../harness/components/sinks.js';
import { type Env, startEnv } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { pagerDutyEventsFor, pagerDutyTriggers, type SlackMessage } from './real-services.js';
import { writeTestProfileRules } from './rule-files.js';
import { type SyntheticTargets, startSyntheticTargets } from './synthetic-targets.js';

/**
 * Alert delivery end to end: synthetic service metrics → real Prometheus evaluating the project's rules (test
 * profile: `for:` capped at 2s, windows and thresholds unchanged) → real Alertmanager with the project's
 * configuration (test timings) → PagerDuty Events v2 / Slack / drill webhook recording sinks.
 */

const slackMessages = (sink: Sink, path?: string) =>
  sink.records.filter((r: RecordedRequest) => !path || r.path === path).map((r) => r.body as SlackMessage);
const slackFor = (sink: Sink, alertname: string) =>
  slackMessages(sink).filter((m) => m.attachments?.some((a) => a.title.includes(alertname)));

describe('alert delivery: Prometheus → Alertmanager → PagerDuty / Slack / drill webhook', () => {
  let targets: SyntheticTargets;
  let drillSink: Sink;
  let env: Env;
  let secretsDir: string;
  const routingKey = `e2e-${randomBytes(12).toString('hex')}`;
  const acme = 'e2e-acme';
  const globex = 'e2e-globex';

  beforeAll(async () => {
    targets = await startSyntheticTargets();
    targets.smokeTraffic();
    // Series exist at 0 before anything happens, so increase() sees every increment.
    targets.auth.loginAttempts.inc({ tenant: acme, outcome: 'invalid_credentials' }, 0);
    targets.gateway.rejections.inc({ tenant: globex }, 0);
    drillSink = await startSink('webhook');
    secretsDir = mkdtempSync(path.join(os.tmpdir(), 'novapos-am-secrets-'));
    const routingKeyFile = path.join(secretsDir, 'routing-key');
    writeFileSync(routingKeyFile, routingKey, { mode: 0o600 });
    env = await startEnv({
      label: 'alert-delivery',
      prometheus: {
        scrape: targets.scrape,
        ruleFiles: writeTestProfileRules('2s'),
        evaluationInterval: '1s',
      },
      alertmanager: {
        config: (sinks) => {
          // The webhook URLs are credentials: files, as the Secrets mounted in a cluster.
          const slackFile = (channel: string) => {
            const file = path.join(secretsDir, `slack-${channel}`);
            writeFileSync(file, `${sinks.slack}/services/${channel}`, { mode: 0o600 });
            return file;
          };
          return alertmanagerConfig({
            pagerduty: { routingKeyFile, url: `${sinks.pagerduty}/v2/enqueue` },
            slack: {
              security: { apiUrlFile: slackFile('security'), channel: '#security-alerts' },
              sre: { apiUrlFile: slackFile('sre'), channel: '#sre-alerts' },
            },
            drillWebhookUrl: `${drillSink.url}/drills/alert-delivery`,
            timings: { groupWait: '1s', groupInterval: '1s', repeatInterval: '1h' },
          });
        },
      },
    });
    const prometheus = env.prometheus!;
    await waitUntil('Prometheus to scrape the synthetic targets', async () => {
      const up = await prometheus.query('sum(up{job=~"auth-service|integration-gateway|novapos-operator"})');
      const seen = await prometheus.query(`auth_login_attempts_total{tenant="${acme}"}`);
      return up[0]?.value[1] === '3' && seen.length === 1;
    });
  });

  afterAll(async () => {
    await env?.stop();
    await drillSink?.stop();
    await targets?.stop();
    if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  });

  it('keeps the credentials out of the configuration Alertmanager runs with', () => {
    const config = readFileSync(env.alertmanager!.configFile, 'utf8');
    expect(config).toContain('routing_key_file:');
    expect(config).not.toContain(routingKey);
    expect(config).not.toContain(env.slack!.url);
  });

  it('pages PagerDuty with the runbook link when failed logins for a tenant pass 50 in 5 minutes', async () => {
    const started = Date.now();
    targets.auth.loginAttempts.inc(
      { tenant: acme, outcome: 'invalid_credentials' },
      FAILED_LOGINS_PER_TENANT_5M + 10,
    );
    targets.gateway.rejections.inc({ tenant: globex }, REJECTIONS_PER_TENANT_1M * 2);
    const [event] = await pagerDutyTriggers(env.pagerduty!, 'AuthFailedLoginSpike');
    process.stderr.write(
      `[alerts] AuthFailedLoginSpike reached PagerDuty ${Date.now() - started} ms after the spike\n`,
    );
    expect(event!.routing_key).toBe(routingKey);
    expect(event!.links).toEqual([{ href: runbookUrl('AuthFailedLoginSpike'), text: 'Runbook' }]);
    expect(event!.payload.custom_details.runbook_url).toBe(runbookUrl('AuthFailedLoginSpike'));
    expect(event!.payload.custom_details.tenant).toBe(acme);
    expect(event!.payload.severity).toBe('critical');
    expect(event!.payload.summary).toContain(`Failed logins spiking for tenant ${acme}`);
    // 60 is under the per-source threshold (100) and the fleet one (1000); it pages once, and not on Slack.
    expect(pagerDutyEventsFor(env.pagerduty!, 'AuthFailedLoginsTenantBurst')).toEqual([]);
    expect(slackFor(env.slack!, 'AuthFailedLoginSpike')).toEqual([]);
  });

  it('sends a warning to the Slack channel of its team, and not to PagerDuty, then its resolution', async () => {
    const started = Date.now();
    targets.gateway.mode.set({ mode: 'normal' }, 0);
    targets.gateway.mode.set({ mode: 'fail_open' }, 1);
    const [message] = await waitUntil('a Slack message for GatewayRateLimiterDegraded', () => {
      const m = slackFor(env.slack!, 'GatewayRateLimiterDegraded');
      return m.length ? m : undefined;
    });
    process.stderr.write(
      `[alerts] GatewayRateLimiterDegraded reached Slack ${Date.now() - started} ms after the switch\n`,
    );
    expect(message!.channel).toBe('#sre-alerts');
    expect(env.slack!.records.find((r) => (r.body as SlackMessage) === message)!.path).toBe('/services/sre');
    expect(message!.attachments[0]!.title).toBe('[FIRING] GatewayRateLimiterDegraded (warning)');
    expect(message!.attachments[0]!.title_link).toBe(runbookUrl('GatewayRateLimiterDegraded'));
    expect(message!.attachments[0]!.text).toContain('Gateway rate limiter in fail_open mode');

    targets.gateway.mode.set({ mode: 'fail_open' }, 0);
    targets.gateway.mode.set({ mode: 'normal' }, 1);
    await waitUntil('a Slack resolution for GatewayRateLimiterDegraded', () =>
      slackFor(env.slack!, 'GatewayRateLimiterDegraded').some((m) =>
        m.attachments[0]!.title.startsWith('[RESOLVED]'),
      ),
    );
    expect(pagerDutyEventsFor(env.pagerduty!, 'GatewayRateLimiterDegraded')).toEqual([]);
  });

  it('delivers info alerts to nobody', async () => {
    targets.operator.rotations.inc({ namespace: 'smoke', name: 'pos-jwt', reason: 'schedule' });
    const alertmanager = env.alertmanager!.url;
    await waitUntil('SigningKeyRotated to reach Alertmanager', async () => {
      const res = await fetch(
        `${alertmanager}/api/v2/alerts?filter=${encodeURIComponent('alertname="SigningKeyRotated"')}`,
      );
      return ((await res.json()) as unknown[]).length > 0;
    });
    await sleep(3_000); // several group intervals: anything routed would have been sent by now
    expect(pagerDutyEventsFor(env.pagerduty!, 'SigningKeyRotated')).toEqual([]);
    expect(slackFor(env.slack!, 'SigningKeyRotated')).toEqual([]);
    expect(drillSink.records).toEqual([]);
  });

  it('sends drill alerts to the drill webhook only, even when critical', async () => {
    const now = new Date().toISOString();
    const res = await fetch(`${env.alertmanager!.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: {
            alertname: 'NovaposDrillSyntheticAlert',
            drill: 'e2e-quarterly',
            severity: 'critical',
            team: 'sre',
          },
          annotations: { summary: 'Synthetic DR drill alert', runbook_url: runbookUrl('DrDrillStepFailed') },
          startsAt: now,
        },
      ]),
    });
    expect(res.status).toBe(200);
    const [delivery] = await waitUntil('the drill webhook to receive the drill alert', () =>
      drillSink.records.length ? drillSink.records : undefined,
    );
    expect(delivery!.path).toBe('/drills/alert-delivery');
    const body = delivery!.body as { receiver: string; alerts: { labels: Record<string, string> }[] };
    expect(body.receiver).toBe('drill');
    expect(body.alerts[0]!.labels.drill).toBe('e2e-quarterly');
    await sleep(2_000);
    expect(pagerDutyEventsFor(env.pagerduty!, 'NovaposDrillSyntheticAlert')).toEqual([]);
    expect(slackFor(env.slack!, 'NovaposDrillSyntheticAlert')).toEqual([]);
  });

  it('inhibits a warning while the critical of the same alert and tenant fires, and everything of a job that is down', async () => {
    const post = (alerts: { labels: Record<string, string> }[]) =>
      fetch(`${env.alertmanager!.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          alerts.map((a) => ({
            ...a,
            annotations: { summary: 'probe' },
            startsAt: new Date().toISOString(),
          })),
        ),
      });
    const probe = { alertname: 'InhibitionProbe', tenant: 'e2e-probe', team: 'sre' };
    expect(
      (
        await post([
          { labels: { ...probe, severity: 'critical' } },
          { labels: { ...probe, severity: 'warning' } },
          { labels: { ...probe, tenant: 'e2e-other', severity: 'warning' } },
          { labels: { alertname: 'ServiceDown', job: 'e2e-job', severity: 'critical', team: 'sre' } },
          {
            labels: {
              alertname: 'TargetDown',
              job: 'e2e-job',
              instance: 'a:1',
              severity: 'warning',
              team: 'sre',
            },
          },
        ])
      ).status,
    ).toBe(200);
    type AmAlert = { labels: Record<string, string>; status: { inhibitedBy: string[] } };
    const alerts = await waitUntil('the probes to be processed', async () => {
      const res = await fetch(`${env.alertmanager!.url}/api/v2/alerts`);
      const all = (await res.json()) as AmAlert[];
      const probes = all.filter(
        (a) => a.labels.alertname === 'InhibitionProbe' || a.labels.job === 'e2e-job',
      );
      return probes.length === 5 ? all : undefined;
    });
    const find = (labels: Record<string, string>) =>
      alerts.find((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v))!;
    expect(find({ ...probe, severity: 'warning' }).status.inhibitedBy.length).toBe(1);
    expect(find({ ...probe, tenant: 'e2e-other', severity: 'warning' }).status.inhibitedBy).toEqual([]);
    expect(find({ ...probe, severity: 'critical' }).status.inhibitedBy).toEqual([]);
    expect(find({ alertname: 'TargetDown', job: 'e2e-job' }).status.inhibitedBy.length).toBe(1);
    await waitUntil('the uninhibited warning to reach Slack', () =>
      slackMessages(env.slack!, '/services/sre').some((m) => m.attachments[0]!.text.includes('probe')),
    );
    await sleep(2_000);
    const sreTexts = slackMessages(env.slack!, '/services/sre').filter((m) =>
      m.attachments[0]!.title.includes('InhibitionProbe'),
    );
    expect(sreTexts).toHaveLength(1); // e2e-other's; e2e-probe's warning was inhibited
    expect(slackFor(env.slack!, 'TargetDown')).toEqual([]);
  });

  it('inhibits the audit gap and lag alerts while the DR drill has the audit consumer paused (issue 20)', async () => {
    type AmAlert = { labels: Record<string, string>; status: { inhibitedBy: string[] } };
    const amAlerts = async (alertname: string) => {
      const filter = encodeURIComponent(`alertname="${alertname}"`);
      const res = await fetch(`${env.alertmanager!.url}/api/v2/alerts?filter=${filter}`);
      return (await res.json()) as AmAlert[];
    };
    // The drill's pause first (its alert must be in Alertmanager before the alerts it explains), then what a
    // paused consumer looks like: a hole older than the SLO and the lag of the events waiting in Kafka.
    targets.audit.paused.set(1);
    const [source] = await waitUntil('AuditConsumerPausedByDrill to reach Alertmanager', async () => {
      const found = await amAlerts('AuditConsumerPausedByDrill');
      return found.length ? found : undefined;
    });
    expect(source!.labels.drill).toBeUndefined();
    targets.audit.openHoleSeconds.set({ producer: 'e2e-paused' }, 120);
    targets.audit.lag.set({ topic: 'audit.events.v1' }, 5000);
    const [gap, lag] = await waitUntil(
      'AuditChainGap and AuditConsumerLagHigh to reach Alertmanager',
      async () => {
        const both = [(await amAlerts('AuditChainGap'))[0], (await amAlerts('AuditConsumerLagHigh'))[0]];
        return both.every(Boolean) ? (both as AmAlert[]) : undefined;
      },
    );
    expect(gap!.labels.producer).toBe('e2e-paused');
    expect(gap!.status.inhibitedBy.length).toBe(1);
    expect(lag!.status.inhibitedBy.length).toBe(1);
    await sleep(3_000); // several group intervals: a critical gap would have paged by now
    expect(pagerDutyEventsFor(env.pagerduty!, 'AuditChainGap')).toEqual([]);
    expect(slackFor(env.slack!, 'AuditConsumerLagHigh')).toEqual([]);
    expect(slackFor(env.slack!, 'AuditConsumerPausedByDrill')).toEqual([]);
    expect(drillSink.records.some((r) => JSON.stringify(r.body).includes('AuditConsumerPausedByDrill'))).toBe(
      false,
    );
    // The drill resumes and the consumer catches up: nothing was notified, so nothing resolves either.
    targets.audit.paused.set(0);
    targets.audit.openHoleSeconds.set({ producer: 'e2e-paused' }, 0);
    targets.audit.lag.set({ topic: 'audit.events.v1' }, 0);
    await waitUntil(
      'AuditChainGap and AuditConsumerLagHigh to resolve',
      async () =>
        (await amAlerts('AuditChainGap')).length + (await amAlerts('AuditConsumerLagHigh')).length === 0,
    );
    expect(pagerDutyEventsFor(env.pagerduty!, 'AuditChainGap')).toEqual([]);
  });

  it('resolves the PagerDuty incident once the 1-minute rejection window has drained', async () => {
    const trigger = await waitUntil('a PagerDuty trigger for GatewayRateLimitRejections', () =>
      pagerDutyEventsFor(env.pagerduty!, 'GatewayRateLimitRejections').find(
        (e) => e.event_action === 'trigger',
      ),
    );
    expect(trigger.links![0]!.href).toBe(runbookUrl('GatewayRateLimitRejections'));
    expect(trigger.payload.custom_details.tenant).toBe(globex);
    const started = Date.now();
    const resolve = await waitUntil(
      'a PagerDuty resolve for GatewayRateLimitRejections',
      () =>
        pagerDutyEventsFor(env.pagerduty!, 'GatewayRateLimitRejections').find(
          (e) => e.event_action === 'resolve',
        ),
      { timeoutMs: 100_000, intervalMs: 500 },
    );
    process.stderr.write(
      `[alerts] GatewayRateLimitRejections resolved in PagerDuty after ${Date.now() - started} ms more\n`,
    );
    expect(resolve.dedup_key).toBe(trigger.dedup_key);
    expect(resolve.routing_key).toBe(routingKey);
  }, 120_000);
});
