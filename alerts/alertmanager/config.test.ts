import { describe, expect, it } from 'vitest';
import { alertmanagerConfig, alertmanagerYaml, productionAlertmanagerOptions, RECEIVERS } from './config.js';

type Route = { receiver: string; matchers?: string[]; continue?: boolean; routes?: Route[] };
const config = alertmanagerConfig(productionAlertmanagerOptions) as {
  route: Route;
  receivers: Record<string, unknown>[];
  inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
};

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

  it('uses shorter timings only when asked (tests)', () => {
    const quick = alertmanagerConfig({ ...productionAlertmanagerOptions, timings: { groupWait: '1s' } }) as {
      route: { group_wait: string; group_interval: string };
    };
    expect(quick.route.group_wait).toBe('1s');
    expect(quick.route.group_interval).toBe('5m');
    expect((config.route as unknown as { group_wait: string }).group_wait).toBe('30s');
  });
});
