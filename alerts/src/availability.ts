import { alert, type RuleArea } from './model.js';

/** The scrape jobs of the control plane (ServiceMonitor/scrape-config job names). */
export const MONITORED_JOBS = ['auth-service', 'integration-gateway', 'novapos-operator'] as const;

const jobs = MONITORED_JOBS.join('|');

export const availabilityRules: RuleArea = {
  area: 'availability',
  groups: [
    {
      name: 'novapos-availability',
      rules: [
        alert({
          // Seed 002 P0 "System Downtime: > 30 seconds". absent(): a job with no target at all is down too.
          name: 'ServiceDown',
          expr: [
            `sum by (job) (up{job=~"${jobs}"}) == 0`,
            ...MONITORED_JOBS.map((j) => `absent(up{job="${j}"})`),
          ].join(' or '),
          for: '30s',
          severity: 'critical',
          team: 'sre',
          summary: '{{ $labels.job }} is down',
          description: 'No {{ $labels.job }} target has answered a Prometheus scrape for 30 seconds.',
        }),
        alert({
          name: 'TargetDown',
          expr: `up{job=~"${jobs}"} == 0`,
          for: '5m',
          severity: 'warning',
          team: 'sre',
          summary: '{{ $labels.job }} target {{ $labels.instance }} is down',
          description:
            'Prometheus has failed to scrape {{ $labels.instance }} of {{ $labels.job }} for 5 minutes.',
        }),
      ],
    },
  ],
};
