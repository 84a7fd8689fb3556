import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAlertmanagerConfig } from '../../alerts/alertmanager/local.js';
import { FAILED_LOGINS_PER_SOURCE_5M, FAILED_LOGINS_PER_TENANT_5M } from '../../alerts/src/auth.js';
import { runbookUrl } from '../../alerts/src/model.js';
import { expectNoSecrets } from '../auth-service/helpers.js';
import { type Sink, startSink } from '../harness/components/sinks.js';
import { type Env, startEnv } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';
import {
  type AuthDeployment,
  aPassword,
  BOOTSTRAP_TOKEN,
  errorCode,
  type PagerDutyEvent,
  pagerDutyEventsFor,
  pagerDutyTriggers,
  request,
  type SlackMessage,
  slackRecordsFor,
  startAuthDeployment,
} from './real-services.js';
import { writeTestProfileRules } from './rule-files.js';

/**
 * Alerting end to end with the REAL auth-service: two replicas (one Deployment: one database, one key tree in
 * OpenBao) scraped by a real Prometheus evaluating the project's rules in the test profile (`for:` capped at
 * 2s, evaluation every second; expressions, windows and thresholds unchanged), a real Alertmanager with the
 * project's configuration, and PagerDuty / Slack recording sinks.
 *
 * - critical: credential stuffing against one tenant (more than 50 logins refused for a wrong password in
 *   5 minutes) pages PagerDuty with the runbook link; once the traffic stops and the 5-minute window drains,
 *   PagerDuty gets the resolve. The resolve takes the full window (~5 min): this file runs for about 6 minutes.
 * - warning: one replica goes away → TargetDown reaches #sre-alerts on Slack, not PagerDuty; it comes back →
 *   the resolution reaches Slack too.
 */

const TENANT = 'stuffedco';
const ADMIN = 'owner@stuffedco.test';
/** 13 accounts × 5 wrong passwords = 65: above 50 (AuthFailedLoginSpike), below 100 (TenantBurst). */
const ACCOUNTS = 13;
const ATTEMPTS_PER_ACCOUNT = 5; // = AUTH_LOCKOUT_THRESHOLD: the 5th failure locks, and every one counts
/** Distinct client IPs: the service limits logins per IP (30/min by default) and trusts no proxy hop. */
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];

describe('alerts end to end with the real auth-service', () => {
  let data: Env;
  let alerting: Env;
  let auth: AuthDeployment;
  let drillSink: Sink;
  let secretsDir: string;
  const routingKey = `e2e-${randomBytes(12).toString('hex')}`;
  const adminPassword = aPassword();
  const secrets: Record<string, string> = { adminPassword, routingKey };
  let burstEnded = 0;

  const replicaUrl = (i: number) => auth.replicas[i]!.url;
  const promValue = async (expr: string) => {
    const r = await alerting.prometheus!.query(expr);
    return r.length ? Number(r[0]!.value[1]) : undefined;
  };
  const pagerDuty = (alertname: string) => pagerDutyEventsFor(alerting.pagerduty!, alertname);

  beforeAll(async () => {
    const started = Date.now();
    data = await startEnv({ label: 'alerts-real-data', postgres: true, vault: 1 });
    auth = await startAuthDeployment(
      { postgresUrl: data.postgres!.url, vaultAddr: data.vault!.addr, vaultRootToken: data.vault!.rootToken },
      {
        label: 'alerts-real',
        replicas: 2,
        // The burst below comes from 6 addresses: the account-wide limit (not the per-address one) is what
        // locks the admin at its 5th failure here.
        env: { AUTH_LOCKOUT_ACCOUNT_THRESHOLD: '5' },
      },
    );
    const first = await request(replicaUrl(0), 'POST', '/register-first', {
      tenant: TENANT,
      body: { email: ADMIN, password: adminPassword },
      headers: { 'x-bootstrap-token': BOOTSTRAP_TOKEN },
    });
    expect(first.status).toBe(201);

    drillSink = await startSink('webhook');
    secretsDir = mkdtempSync(path.join(os.tmpdir(), 'novapos-am-secrets-'));
    alerting = await startEnv({
      label: 'alerts-real',
      prometheus: {
        scrape: { 'auth-service': auth.addresses },
        ruleFiles: writeTestProfileRules('2s'),
        evaluationInterval: '1s',
      },
      alertmanager: {
        config: localAlertmanagerConfig(secretsDir, routingKey, {
          url: `${drillSink.url}/drills/alert-delivery`,
        }),
      },
    });
    await waitUntil('Prometheus to scrape both auth-service replicas', async () => {
      return (await promValue('sum(up{job="auth-service"})')) === 2;
    });
    process.stderr.write(
      `[alerts-real] environment and 2 auth-service replicas up in ${Date.now() - started} ms\n`,
    );
  });

  afterAll(async () => {
    await alerting?.stop();
    await auth?.close();
    await data?.stop();
    await drillSink?.stop();
    if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  });

  it('pages PagerDuty with the runbook link when real failed logins for a tenant pass 50 in 5 minutes', async () => {
    const accounts = [ADMIN, ...Array.from({ length: ACCOUNTS - 1 }, (_, i) => `clerk${i}@stuffedco.test`)];
    let n = 0;
    const wrongLogin = async (email: string, replica = n % 2) => {
      const password = aPassword(); // wrong: never the admin's, and unknown users have none
      secrets[`wrong${n}`] = password;
      const from = SOURCES[n % SOURCES.length];
      n++;
      return request(replicaUrl(replica), 'POST', '/login', {
        from,
        tenant: TENANT,
        body: { email, password },
      });
    };

    // One failure on each replica first, and wait until Prometheus has both series: increase() only counts
    // what happens after a series' first sample.
    const primed = [await wrongLogin(accounts[1]!, 0), await wrongLogin(accounts[2]!, 1)];
    expect(primed.map(errorCode)).toEqual(['invalid_credentials', 'invalid_credentials']);
    await waitUntil('both replicas to expose the tenant failed-login series', async () => {
      const r = await alerting.prometheus!.query(
        `auth_login_attempts_total{tenant="${TENANT}",outcome="invalid_credentials"}`,
      );
      return r.length === 2;
    });

    const started = Date.now();
    const perAccount = accounts.map((email) => ({
      email,
      left: ATTEMPTS_PER_ACCOUNT - (email === accounts[1] || email === accounts[2] ? 1 : 0),
    }));
    const replies = (
      await Promise.all(
        [0, 1, 2, 3].map(async (worker) => {
          const out = [];
          for (const a of perAccount.filter((_, i) => i % 4 === worker)) {
            for (let k = 0; k < a.left; k++) out.push(await wrongLogin(a.email));
          }
          return out;
        }),
      )
    ).flat();
    // The admin's account is locked now: more attempts answer `too_many_attempts` and are not counted as
    // invalid credentials (the alert counts passwords tried, not knocks on a locked door).
    const locked = [await wrongLogin(ADMIN), await wrongLogin(ADMIN)];
    burstEnded = Date.now();
    const total = ACCOUNTS * ATTEMPTS_PER_ACCOUNT;
    expect(replies.map(errorCode)).toEqual(Array(total - 2).fill('invalid_credentials'));
    expect(locked.map(errorCode)).toEqual(['too_many_attempts', 'too_many_attempts']);
    process.stderr.write(
      `[alerts-real] ${total - 2} failed logins (+2 locked) sent in ${burstEnded - started} ms from ${SOURCES.length} IPs\n`,
    );

    const [event] = await pagerDutyTriggers(alerting.pagerduty!, 'AuthFailedLoginSpike');
    process.stderr.write(
      `[alerts-real] AuthFailedLoginSpike reached PagerDuty ${Date.now() - burstEnded} ms after the last failed login\n`,
    );
    expect(event!.routing_key).toBe(routingKey);
    expect(event!.links).toEqual([{ href: runbookUrl('AuthFailedLoginSpike'), text: 'Runbook' }]);
    expect(event!.payload.custom_details.runbook_url).toBe(runbookUrl('AuthFailedLoginSpike'));
    expect(event!.payload.custom_details.tenant).toBe(TENANT);
    expect(event!.payload.severity).toBe('critical');
    expect(event!.payload.summary).toContain(`Failed logins spiking for tenant ${TENANT}`);

    // What Prometheus saw from the service: all 65 refusals across both replicas, the 2 locked apart, and a
    // 5-minute count between the two per-tenant thresholds.
    expect(
      await promValue(`sum(auth_login_attempts_total{tenant="${TENANT}",outcome="invalid_credentials"})`),
    ).toBe(total);
    expect(await promValue(`sum(auth_login_attempts_total{tenant="${TENANT}",outcome="locked"})`)).toBe(2);
    const windowCount = await promValue(
      `sum(increase(auth_login_attempts_total{tenant="${TENANT}",outcome="invalid_credentials"}[5m]))`,
    );
    expect(windowCount).toBeGreaterThan(FAILED_LOGINS_PER_TENANT_5M);
    expect(windowCount).toBeLessThan(FAILED_LOGINS_PER_SOURCE_5M);
    expect(pagerDuty('AuthFailedLoginsTenantBurst')).toEqual([]);
    // A page is not also a Slack message.
    expect(slackRecordsFor(alerting.slack!, 'AuthFailedLoginSpike')).toEqual([]);

    // No password, no routing key in what the service logged or what the sinks received.
    const delivered = JSON.stringify([...alerting.pagerduty!.records, ...alerting.slack!.records]);
    expectNoSecrets(delivered, { ...secrets, routingKey: undefined });
    expectNoSecrets(auth.replicas.map((r) => r.logs.text).join('\n'), secrets);
    expect(readFileSync(alerting.alertmanager!.configFile, 'utf8')).not.toContain(routingKey);
  });

  it('sends a warning (a replica down: TargetDown) to the SRE Slack channel and not to PagerDuty, then its resolution', async () => {
    const down = auth.addresses[1]!;
    const started = Date.now();
    await auth.stop(1);
    const [record] = await waitUntil(
      'a Slack message for TargetDown',
      () => {
        const r = slackRecordsFor(alerting.slack!, 'TargetDown');
        return r.length ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    process.stderr.write(
      `[alerts-real] TargetDown reached Slack ${Date.now() - started} ms after the replica stopped\n`,
    );
    const message = record!.body as SlackMessage;
    expect(record!.path).toBe('/services/sre');
    expect(message.channel).toBe('#sre-alerts');
    expect(message.attachments[0]!.title).toBe('[FIRING] TargetDown (warning)');
    expect(message.attachments[0]!.title_link).toBe(runbookUrl('TargetDown'));
    expect(message.attachments[0]!.text).toContain(`auth-service target ${down} is down`);
    // One replica of two is down: the service is not, so nothing pages.
    expect(await promValue('sum(up{job="auth-service"})')).toBe(1);

    await auth.restart(1);
    await waitUntil(
      'a Slack resolution for TargetDown',
      () =>
        slackRecordsFor(alerting.slack!, 'TargetDown').some((r) =>
          (r.body as SlackMessage).attachments[0]!.title.startsWith('[RESOLVED]'),
        ),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await sleep(2_000); // two group intervals: a page, had one been routed, would be here by now
    expect(pagerDuty('TargetDown')).toEqual([]);
    expect(
      pagerDuty('ServiceDown').filter((e) => e.payload.summary.includes('auth-service')),
      'auth-service was never down as a whole',
    ).toEqual([]);
  });

  it('resolves the PagerDuty incident once the traffic has stopped and the 5-minute window has drained', async () => {
    const trigger = pagerDuty('AuthFailedLoginSpike').find((e) => e.event_action === 'trigger');
    expect(trigger, 'the trigger of the first test').toBeDefined();
    const resolve: PagerDutyEvent = await waitUntil(
      'a PagerDuty resolve for AuthFailedLoginSpike',
      () => pagerDuty('AuthFailedLoginSpike').find((e) => e.event_action === 'resolve'),
      { timeoutMs: burstEnded + 360_000 - Date.now(), intervalMs: 500 },
    );
    const after = Date.now() - burstEnded;
    process.stderr.write(
      `[alerts-real] AuthFailedLoginSpike resolved in PagerDuty ${after} ms after the last failed login\n`,
    );
    expect(resolve.dedup_key).toBe(trigger!.dedup_key);
    expect(resolve.routing_key).toBe(routingKey);
    expect(resolve.links![0]!.href).toBe(runbookUrl('AuthFailedLoginSpike'));
    // Resolved by the window draining (5 minutes), not by anything sooner.
    expect(after).toBeGreaterThan(240_000);
    expect(pagerDuty('AuthFailedLoginSpike').filter((e) => e.event_action === 'trigger')).toHaveLength(1);
  }, 420_000);
});
