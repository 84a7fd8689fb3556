import { describe, expect, it } from 'vitest';
import { ruleAreas } from '../src/index.js';
import { alertsOf } from '../src/model.js';
import { alertmanagerConfig, alertmanagerYaml, productionAlertmanagerOptions, RECEIVERS } from './config.js';

type Route = { receiver: string; matchers?: string[]; continue?: boolean; routes?: Route[] };
const config = alertmanagerConfig(productionAlertmanagerOptions) as {
  route: Route;
  receivers: Record<string, unknown>[];
  inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal?: string[] }[];
};

/** Alertmanager's matcher semantics for the matcher forms this configuration uses (=, !=, =~ anchored). */
function matches(matchers: readonly string[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.every((m) => {
    const [, name, op, value] = /^(\w+)(=~|!=|=)"(.*)"$/.exec(m) ?? [];
    if (!name) throw new Error(`unexpected matcher ${m}`);
    const actual = labels[name] ?? '';
    if (op === '=') return actual === value;
    if (op === '!=') return actual !== value;
    return new RegExp(`^(?:${value})$`).test(actual);
  });
}

/** Whether a firing `source` inhibits `target` under some rule of the configuration. */
function inhibits(source: Record<string, string>, target: Record<string, string>): boolean {
  return config.inhibit_rules.some(
    (r) =>
      matches(r.source_matchers, source) &&
      matches(r.target_matchers, target) &&
      (r.equal ?? []).every((l) => (source[l] ?? '') === (target[l] ?? '')),
  );
}

/** The labels an alert of the rules has when it fires (static ones plus what its expression keeps). */
function firing(name: string, extra: Record<string, string> = {}): Record<string, string> {
  const rule = alertsOf(ruleAreas).find((a) => a.alert === name);
  if (!rule) throw new Error(`no alert ${name}`);
  return { alertname: name, ...rule.labels, ...extra };
}

describe('alertmanager configuration', () => {
  it('holds no credential, only the files they are read from', () => {
    const text = alertmanagerYaml(productionAlertmanagerOptions);
    expect(text).toContain('routing_key_file: /etc/alertmanager/secrets/');
    expect(text).toContain('api_url_file: /etc/alertmanager/secrets/');
    expect(text).not.toMatch(/routing_key:|service_key|api_url:|hooks\.slack\.com/);
  });

  it('routes drill alerts first, to the webhook, whatever their severity', () => {
    const first = config.route.routes![0]!;
    expect(first.matchers).toEqual(['drill=~".+"']);
    expect(first.receiver).toBe(RECEIVERS.drill);
    expect(first.continue).toBeUndefined();
  });

  it('sends critical to PagerDuty, warning to Slack by team, info nowhere', () => {
    const byMatchers = Object.fromEntries(
      config.route.routes!.map((r) => [r.matchers!.join(','), r.receiver]),
    );
    expect(byMatchers['severity="critical"']).toBe(RECEIVERS.pagerduty);
    expect(byMatchers['severity="warning",team="security"']).toBe(RECEIVERS.slackSecurity);
    expect(byMatchers['severity="warning"']).toBe(RECEIVERS.slackSre);
    expect(byMatchers['severity="info"']).toBe(RECEIVERS.none);
    const none = config.receivers.find((r) => r.name === RECEIVERS.none)!;
    expect(Object.keys(none)).toEqual(['name']);
  });

  it('puts the runbook link into the PagerDuty event (links and custom details)', () => {
    const pd = (
      config.receivers.find((r) => r.name === RECEIVERS.pagerduty) as {
        pagerduty_configs: Record<string, unknown>[];
      }
    ).pagerduty_configs[0]!;
    expect(pd.links).toEqual([{ href: '{{ (index .Alerts 0).Annotations.runbook_url }}', text: 'Runbook' }]);
    expect((pd.details as Record<string, string>).runbook_url).toBe(
      '{{ (index .Alerts 0).Annotations.runbook_url }}',
    );
    expect(pd.send_resolved).toBe(true);
  });

  it('never lets a drill alert inhibit, or be inhibited by, another alert', () => {
    for (const rule of config.inhibit_rules) {
      expect(rule.source_matchers).toContain('drill=""');
      expect(rule.target_matchers).toContain('drill=""');
    }
  });

  it("inhibits the audit gap and lag alerts while the drill's pause lasts, and nothing else", () => {
    const paused = firing('AuditConsumerPausedByDrill');
    expect(paused.drill).toBeUndefined(); // not routed to the drill webhook
    expect(paused.severity).toBe('info');
    expect(inhibits(paused, firing('AuditChainGap', { producer: 'auth-service' }))).toBe(true);
    expect(inhibits(paused, firing('AuditConsumerLagHigh', { topic: 'audit.events.v1' }))).toBe(true);
    for (const other of [
      'AuditChainVerifyFailed',
      'AuditConsumerPausedTooLong',
      'AuditHeadSigningFailing',
      'SecurityEventOutboxBacklog',
      'AuditRetentionNotRunning',
    ])
      expect(inhibits(paused, firing(other)), other).toBe(false);
    // A synthetic drill alert that happens to carry the gap alert's name is not touched either.
    expect(inhibits(paused, firing('AuditChainGap', { drill: 'quarterly' }))).toBe(false);
    // Without the drill's alert, the gap alert is not inhibited by anything audit-related.
    expect(inhibits(firing('AuditConsumerPausedTooLong'), firing('AuditChainGap'))).toBe(false);
  });

  it('uses the matcher semantics the inhibition test relies on', () => {
    expect(matches(['a=~"x|y"'], { a: 'xy' })).toBe(false);
    expect(matches(['a=~"x|y"'], { a: 'y' })).toBe(true);
    expect(matches(['drill=""'], {})).toBe(true);
    expect(matches(['drill=""'], { drill: 'q' })).toBe(false);
    expect(matches(['a!="b"'], {})).toBe(true);
  });

  it('routes the drill-pause alert to nobody (info), never to PagerDuty or Slack', () => {
    const paused = firing('AuditConsumerPausedByDrill');
    const route = config.route.routes!.find((r) => matches(r.matchers ?? [], paused));
    expect(route?.receiver).toBe(RECEIVERS.none);
  });

  it('uses shorter timings only when asked (tests)', () => {
    const quick = alertmanagerConfig({ ...productionAlertmanagerOptions, timings: { groupWait: '1s' } }) as {
      route: { group_wait: string; group_interval: string };
    };
    expect(quick.route.group_wait).toBe('1s');
    expect(quick.route.group_interval).toBe('5m');
    expect((config.route as unknown as { group_wait: string }).group_wait).toBe('30s');
  });
});
