import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { finish, newDashboard, stateTimelinePanel, statPanel, timeseriesPanel } from './panels.js';

export function keyRotationDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-key-rotation',
      title: 'NovaPOS / Signing key rotation',
      description:
        'SigningKeyRotation resources: schedule, key ages, rotations and which services loaded the key set.',
      tags: ['keys', 'operator'],
    })
      .withPanel(
        statPanel({
          title: 'Time to next rotation',
          description:
            'Seconds until each key set rotates. Negative means overdue: SigningKeyRotationOverdue fires after 1h ' +
            '(warning) and 24h (critical).',
          queries: [
            {
              expr: 'novapos_signing_key_next_rotation_timestamp_seconds - time()',
              legend: '{{namespace}}/{{name}}',
            },
          ],
          unit: 's',
          width: 12,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Rotations by reason (24h)',
          description: 'Rotations in the last day by reason (schedule, rotate-now, emergency, revoke).',
          queries: [
            {
              expr: 'sum by (reason) (increase(novapos_signing_key_rotations_total[24h]))',
              legend: '{{reason}}',
            },
          ],
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Key age by state',
          description:
            'Age of the oldest key in each state. The active key’s age tracks the rotation interval; a retired key ' +
            'stays until max token TTL plus JWKS cache TTL have passed.',
          queries: [
            {
              expr: 'max by (namespace, name, state) (novapos_signing_key_age_seconds)',
              legend: '{{namespace}}/{{name}} {{state}}',
            },
          ],
          unit: 's',
        }),
      )
      .withPanel(
        stateTimelinePanel({
          title: 'Services that loaded the current key set',
          description:
            '1 when the service reports the current key-set hash on /keys/status, 0 when not. 0 for 10 minutes raises ' +
            'SigningKeyServicesNotLoaded.',
          queries: [
            { expr: 'min by (service) (novapos_signing_key_services_loaded)', legend: '{{service}}' },
          ],
        }),
      ),
  );
}
