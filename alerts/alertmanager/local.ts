import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { alertmanagerConfig } from './config.js';

/**
 * The project's Alertmanager configuration for a machine without a cluster (the local stack and the tests):
 * the same routes, grouping and inhibition as production, delivering to local PagerDuty Events v2 and Slack
 * webhook listeners, with short timings so a notification arrives in seconds. The routing key and webhook
 * URLs go into files under `secretsDir` (mode 0600), as mounted Secrets would.
 */
export function localAlertmanagerConfig(
  secretsDir: string,
  routingKey: string,
  drill: { readonly url: string; readonly tokenFile?: string },
) {
  return (sinks: { pagerduty: string; slack: string }): Record<string, unknown> => {
    const routingKeyFile = path.join(secretsDir, 'routing-key');
    writeFileSync(routingKeyFile, routingKey, { mode: 0o600 });
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
      drillWebhookUrl: drill.url,
      ...(drill.tokenFile ? { drillWebhookTokenFile: drill.tokenFile } : {}),
      timings: { groupWait: '1s', groupInterval: '1s', repeatInterval: '1h' },
    });
  };
}
