import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../lib/service-kit/env.js';
import { drillSettingsFromEnv } from './settings.js';

const endpoints = {
  DRILL_AUTH_SERVICE_URL: 'http://auth-service.novapos.svc:8080/',
  DRILL_GATEWAY_URL: 'http://integration-gateway.novapos.svc:8080',
  ALERTMANAGER_URL: 'http://alertmanager:9093',
};

describe('drillSettingsFromEnv', () => {
  it('is undefined (no drill controller) until the three endpoints are set', () => {
    expect(drillSettingsFromEnv({})).toBeUndefined();
    expect(drillSettingsFromEnv({ ...endpoints, ALERTMANAGER_URL: ' ' })).toBeUndefined();
  });

  it('reads the endpoints with the defaults: gateway metrics at the gateway, webhook on 8082', () => {
    expect(drillSettingsFromEnv(endpoints)).toEqual({
      authServiceUrl: 'http://auth-service.novapos.svc:8080',
      gatewayUrl: 'http://integration-gateway.novapos.svc:8080',
      gatewayMetricsUrls: ['http://integration-gateway.novapos.svc:8080/metrics'],
      alertmanagerUrl: 'http://alertmanager:9093',
      webhookPort: 8082,
      webhookToken: undefined,
      webhookTokenFile: undefined,
    });
  });

  it('reads the gateway metrics list, the webhook port and token settings', () => {
    const s = drillSettingsFromEnv({
      ...endpoints,
      DRILL_GATEWAY_METRICS_URLS: 'http://gw-0:9083/metrics, http://gw-1:9083/metrics,',
      DRILL_WEBHOOK_PORT: '0',
      DRILL_WEBHOOK_TOKEN_FILE: '/var/run/secrets/drill/token',
      DRILL_AUDIT_SERVICE_URL: 'http://audit-service.novapos.svc:9087/',
    });
    expect(s).toMatchObject({
      auditServiceUrl: 'http://audit-service.novapos.svc:9087',
      gatewayMetricsUrls: ['http://gw-0:9083/metrics', 'http://gw-1:9083/metrics'],
      webhookPort: 0,
      webhookTokenFile: '/var/run/secrets/drill/token',
    });
  });

  const refused: [string, Record<string, string>, string][] = [
    [
      'an endpoint that is not a URL',
      { DRILL_GATEWAY_URL: 'integration gateway' },
      'DRILL_GATEWAY_URL=integration gateway: must be a URL',
    ],
    [
      'a metrics list with something that is not a URL',
      { DRILL_GATEWAY_METRICS_URLS: 'http://gw-0/metrics,gw-1' },
      'DRILL_GATEWAY_METRICS_URLS=http://gw-0/metrics,gw-1: must be a comma-separated list of URLs',
    ],
    [
      'a webhook port out of range',
      { DRILL_WEBHOOK_PORT: '70000' },
      'DRILL_WEBHOOK_PORT=70000: must be a port number 0-65535',
    ],
  ];
  for (const [name, env, message] of refused) {
    it(`refuses ${name} with a ConfigError naming the variable`, () => {
      let err: unknown;
      try {
        drillSettingsFromEnv({ ...endpoints, ...env });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(message);
    });
  }

  it('never shows the webhook token in an error', () => {
    expect(() =>
      drillSettingsFromEnv({ ...endpoints, DRILL_WEBHOOK_PORT: 'x', DRILL_WEBHOOK_TOKEN: 'hunter2' }),
    ).toThrow(/^DRILL_WEBHOOK_PORT=x/);
  });
});
