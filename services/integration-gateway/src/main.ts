import type { Counter } from 'prom-client';
import { createEventPublisher } from '../../../lib/kafka-events.js';
import { SecurityAlertWatcher, securityAlertConfigFromEnv } from '../../../lib/security-alerts.js';
import { connectPostgres } from '../../../lib/service-kit/db.js';
import { runService } from '../../../lib/service-kit/run-service.js';
import { configFromEnv } from './config.js';
import { startGateway } from './server.js';

const total = async (c: Counter<string>) => (await c.get()).values.reduce((n, v) => n + v.value, 0);

/**
 * Entry point: configuration from the environment, then the gateway; SIGTERM/SIGINT close it cleanly.
 * Security alerts (lib/security-alerts.ts, issue 20) watch the gateway's authentication counters and go to
 * SECURITY_ALERT_TOPIC through the gateway's outbox (a publisher of their own on the same outbox table).
 */
runService({
  component: 'integration-gateway',
  configure: () => ({ gateway: configFromEnv(process.env), alerts: securityAlertConfigFromEnv(process.env) }),
  start: async ({ gateway: config, alerts }) => {
    const gateway = await startGateway(config);
    const db =
      config.kafka && config.databaseUrl ? connectPostgres(config.databaseUrl, { max: 3 }) : undefined;
    const events = await createEventPublisher({
      kafka: config.kafka,
      db,
      producer: 'integration-gateway',
      logger: gateway.logger,
      registry: gateway.metrics.registry,
    });
    const m = gateway.metrics;
    const watcher = new SecurityAlertWatcher({
      config: alerts,
      events,
      producer: 'integration-gateway',
      logger: gateway.logger,
      rules: [
        {
          type: 'gateway_signature_failures',
          read: () => total(m.signatureFailures),
          threshold: alerts.signatureFailuresPerWindow,
          severity: 'critical',
          description: 'bearer tokens with a forged, tampered or foreign signature',
        },
        {
          type: 'gateway_auth_failures',
          read: () => total(m.authFailures),
          threshold: alerts.authFailuresPerWindow,
          severity: 'warning',
          description: 'failed authentications (JWT and API key)',
        },
      ],
    });
    watcher.start();
    return {
      logger: gateway.logger,
      close: async () => {
        await watcher.stop();
        await gateway.close();
        await events.close();
        await db?.close();
      },
    };
  },
});
