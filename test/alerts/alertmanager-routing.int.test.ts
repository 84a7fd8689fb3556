import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RECEIVERS } from '../../alerts/alertmanager/config.js';
import { ALERTMANAGER_FILE, repoRoot } from '../../scripts/render-monitoring.js';

const run = promisify(execFile);
const configFile = path.join(repoRoot, ALERTMANAGER_FILE);

/** amtool (shipped with Alertmanager) resolves an alert's labels through the real routing tree. */
async function receiversFor(labels: Record<string, string>): Promise<string> {
  const args = [
    'config',
    'routes',
    'test',
    `--config.file=${configFile}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ];
  const { stdout } = await run('amtool', args, { timeout: 30_000 });
  return stdout.trim();
}

describe('the rendered alertmanager.yml', () => {
  it('passes amtool check-config (Alertmanager 0.25: routing_key_file, api_url_file)', async () => {
    const { stdout } = await run('amtool', ['check-config', configFile], { timeout: 30_000 });
    expect(stdout).toContain('SUCCESS');
    expect(stdout).toContain('3 inhibit rules');
  });

  it.each([
    [
      'a critical security alert pages',
      { alertname: 'AuthFailedLoginSpike', severity: 'critical', team: 'security', tenant: 'acme' },
      RECEIVERS.pagerduty,
    ],
    [
      'a critical SRE alert pages',
      { alertname: 'ServiceDown', severity: 'critical', team: 'sre', job: 'auth-service' },
      RECEIVERS.pagerduty,
    ],
    [
      'a security warning goes to the security channel',
      { alertname: 'GatewayApiKeyBurst', severity: 'warning', team: 'security' },
      RECEIVERS.slackSecurity,
    ],
    [
      'an SRE warning goes to the SRE channel',
      { alertname: 'TargetDown', severity: 'warning', team: 'sre' },
      RECEIVERS.slackSre,
    ],
    [
      'info goes nowhere',
      { alertname: 'SigningKeyRotated', severity: 'info', team: 'security' },
      RECEIVERS.none,
    ],
    [
      "the drill's pause of the audit consumer goes nowhere (it only inhibits)",
      { alertname: 'AuditConsumerPausedByDrill', severity: 'info', team: 'sre' },
      RECEIVERS.none,
    ],
    [
      'a critical drill alert never pages',
      { alertname: 'NovaposDrillSyntheticAlert', severity: 'critical', drill: 'quarterly' },
      RECEIVERS.drill,
    ],
    ['an alert without severity is still seen', { alertname: 'Unlabelled' }, RECEIVERS.slackSre],
  ])('%s', async (_, labels, receiver) => {
    expect(await receiversFor(labels)).toBe(receiver);
  });
});
