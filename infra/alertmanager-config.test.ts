import { describe, expect, it } from 'vitest';
import { alertmanagerConfig } from '../alerts/alertmanager/config.js';
import {
  AlertmanagerConfigError,
  buildAlertmanagerConfig,
  type RoutingChoices,
  routeCriticalAlerts,
  routingKeyFile,
} from './alertmanager-config.js';

const choices = (page: boolean): RoutingChoices => ({
  securityChannel: '#sec',
  sreChannel: '#sre',
  page,
  drillWebhookUrl: 'http://novapos-operator.ns.svc:8082/drills/alert-delivery',
});

type Route = { matchers?: string[]; receiver?: string };
const routesOf = (c: Record<string, unknown>) => (c['route'] as { routes: Route[] }).routes;
const receiversOf = (c: Record<string, unknown>) =>
  c['receivers'] as { name: string; [k: string]: unknown }[];

describe('the Alertmanager config of a stack', () => {
  // One source of routing (alerts/alertmanager/config.ts), imported like any module: no copy, no path string.
  const fns = [['the alerts part', alertmanagerConfig]] as const;

  it.each(fns)(
    'with paging on, sends critical security alerts to the security service, others to platform (%s)',
    (_, fn) => {
      const config = buildAlertmanagerConfig(fn, choices(true));
      const critical = routesOf(config).filter((r) => r.matchers?.includes('severity="critical"'));
      expect(critical).toEqual([
        expect.objectContaining({
          matchers: ['severity="critical"', 'team="security"'],
          receiver: 'pagerduty-security',
        }),
        expect.objectContaining({ matchers: ['severity="critical"'], receiver: 'pagerduty-platform' }),
      ]);
      const pd = receiversOf(config).filter((r) => r.name.startsWith('pagerduty'));
      expect(pd.map((r) => r.name)).toEqual(['pagerduty-security', 'pagerduty-platform']);
      expect(JSON.stringify(pd[0])).toContain(routingKeyFile('security'));
      expect(JSON.stringify(pd[1])).toContain(routingKeyFile('platform'));
    },
  );

  it.each(fns)(
    'with paging off, sends critical alerts to the team Slack channel and has no PagerDuty receiver (%s)',
    (_, fn) => {
      const config = buildAlertmanagerConfig(fn, choices(false));
      const critical = routesOf(config).filter((r) => r.matchers?.includes('severity="critical"'));
      expect(critical.map((r) => r.receiver)).toEqual(['slack-security', 'slack-sre']);
      expect(JSON.stringify(config)).not.toContain('pagerduty');
    },
  );

  it.each(fns)('keeps drill alerts first, so a drill never pages (%s)', (_, fn) => {
    const config = buildAlertmanagerConfig(fn, choices(true));
    expect(routesOf(config)[0]).toEqual(
      expect.objectContaining({ matchers: ['drill=~".+"'], receiver: 'drill' }),
    );
  });

  it('holds no secret value: credentials are referenced by file', () => {
    const text = JSON.stringify(buildAlertmanagerConfig(alertmanagerConfig, choices(true)));
    expect(text).not.toMatch(/routing_key"|service_key"|"api_url"|"credentials"/);
    expect(text).toContain('routing_key_file');
    expect(text).toContain('api_url_file');
    expect(text).toContain('credentials_file');
  });

  it.each(fns)(
    'points the drill receiver at the token in the mounted Secret novapos-drill-webhook (%s)',
    (_, fn) => {
      const config = buildAlertmanagerConfig(fn, choices(true));
      const drill = receiversOf(config).find((r) => r.name === 'drill');
      expect(drill?.['webhook_configs']).toEqual([
        expect.objectContaining({
          url: choices(true).drillWebhookUrl,
          http_config: {
            authorization: {
              type: 'Bearer',
              credentials_file: '/etc/alertmanager/secrets/novapos-drill-webhook/token',
            },
          },
        }),
      ]);
    },
  );

  it('fails loudly when the base config has no critical route to rewrite, instead of paging nobody', () => {
    const config = alertmanagerConfig({
      pagerduty: { routingKeyFile: '/x' },
      slack: { security: { apiUrlFile: '/a', channel: '#a' }, sre: { apiUrlFile: '/b', channel: '#b' } },
      drillWebhookUrl: 'http://x',
    });
    const routes = routesOf(config);
    routes.splice(
      routes.findIndex((r) => r.receiver === 'pagerduty'),
      1,
    );
    expect(() => routeCriticalAlerts(config, true)).toThrow(AlertmanagerConfigError);
  });
});
