import { describe, expect, it } from 'vitest';
import { scrapeConfigsFromServiceMonitors } from './service-monitors.js';

const labels = { 'app.kubernetes.io/name': 'auth-service', 'app.kubernetes.io/component': 'auth-service' };
const monitor = {
  metadata: { name: 'auth-service', namespace: 'novapos' },
  spec: {
    endpoints: [{ interval: '30s', path: '/metrics', port: 'admin' }],
    namespaceSelector: { matchNames: ['novapos'] },
    selector: { matchLabels: labels },
  },
};
const slice = (ns: string, service: string, ready: boolean[]) => ({
  metadata: { namespace: ns, labels: { 'kubernetes.io/service-name': service } },
  ports: [
    { name: 'http', port: 8085 },
    { name: 'admin', port: 9085 },
  ],
  endpoints: ready.map((r, i) => ({
    addresses: [`10.217.0.${20 + i}`],
    conditions: { ready: r },
    targetRef: { kind: 'Pod', name: `${service}-${i}` },
  })),
});

describe('scrape configs derived from ServiceMonitors', () => {
  it("targets the ready endpoints of the selected Services on the named port, at the monitor's path and interval", () => {
    const [job, ...rest] = scrapeConfigsFromServiceMonitors(
      [monitor],
      [
        { metadata: { name: 'auth-service', namespace: 'novapos', labels } },
        // Same labels in another namespace, and another Service in the namespace: neither is selected.
        { metadata: { name: 'auth-service', namespace: 'other', labels } },
        { metadata: { name: 'gateway', namespace: 'novapos', labels: { 'app.kubernetes.io/name': 'gw' } } },
      ],
      [
        slice('novapos', 'auth-service', [true, false]),
        slice('other', 'auth-service', [true]),
        slice('novapos', 'gateway', [true]),
      ],
    );
    expect(rest).toEqual([]);
    expect(job).toEqual({
      job_name: 'serviceMonitor/novapos/auth-service/0',
      scrape_interval: '30s',
      metrics_path: '/metrics',
      scheme: 'http',
      honor_labels: false,
      static_configs: [
        {
          targets: ['10.217.0.20:9085'],
          labels: {
            namespace: 'novapos',
            service: 'auth-service',
            job: 'auth-service',
            pod: 'auth-service-0',
            endpoint: 'admin',
          },
        },
      ],
    });
  });

  it('a shortened interval also shortens the timeout (Prometheus refuses a timeout above the interval)', () => {
    const [job] = scrapeConfigsFromServiceMonitors([monitor], [], [], { intervalOverride: '2s' });
    expect(job).toMatchObject({ scrape_interval: '2s', scrape_timeout: '2s', static_configs: [] });
  });
});
