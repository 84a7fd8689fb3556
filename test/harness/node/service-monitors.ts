/**
 * Prometheus scrape configurations derived from ServiceMonitor objects, the way prometheus-operator derives
 * them: one job per endpoint of each ServiceMonitor, whose targets are the ready endpoints of the Services its
 * `selector.matchLabels` selects in the namespaces of its `namespaceSelector`, on the EndpointSlice port named
 * by the endpoint's `port`, scraped at its `path` (and `scheme`). Debian's Prometheus is built without
 * Kubernetes service discovery, so the harness does the discovery step itself (from the objects the API
 * server serves) and hands Prometheus the resulting targets; nothing is written by hand per service: change a
 * chart's ServiceMonitor and the scrape changes.
 */

export interface ServiceMonitorObject {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: {
    readonly endpoints: readonly {
      readonly port?: string;
      readonly path?: string;
      readonly interval?: string;
      readonly scheme?: string;
    }[];
    readonly namespaceSelector?: { readonly matchNames?: readonly string[]; readonly any?: boolean };
    readonly selector: { readonly matchLabels?: Readonly<Record<string, string>> };
  };
}

export interface ServiceObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels?: Record<string, string>;
  };
}

export interface EndpointSliceObject {
  readonly metadata: { readonly namespace: string; readonly labels?: Record<string, string> };
  readonly ports?: readonly { readonly name?: string; readonly port?: number }[];
  readonly endpoints?: readonly {
    readonly addresses: readonly string[];
    readonly conditions?: { readonly ready?: boolean };
    readonly targetRef?: { readonly kind?: string; readonly name?: string };
  }[];
}

/**
 * The scrape configs of `monitors` over the cluster's `services` and `slices`. `intervalOverride` replaces
 * each endpoint's interval (a test that cannot wait 30 s for a first scrape says so by passing it).
 */
export function scrapeConfigsFromServiceMonitors(
  monitors: readonly ServiceMonitorObject[],
  services: readonly ServiceObject[],
  slices: readonly EndpointSliceObject[],
  opts: { intervalOverride?: string } = {},
): Record<string, unknown>[] {
  return monitors.flatMap((sm) => {
    const ns = sm.metadata.namespace ?? 'default';
    const namespaces = sm.spec.namespaceSelector?.any
      ? undefined
      : (sm.spec.namespaceSelector?.matchNames ?? [ns]);
    const selected = services.filter(
      (s) =>
        (!namespaces || namespaces.includes(s.metadata.namespace)) &&
        Object.entries(sm.spec.selector.matchLabels ?? {}).every(([k, v]) => s.metadata.labels?.[k] === v),
    );
    return sm.spec.endpoints.map((ep, i) => {
      const groups = selected.flatMap((svc) =>
        slices
          .filter(
            (sl) =>
              sl.metadata.namespace === svc.metadata.namespace &&
              sl.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name,
          )
          .flatMap((sl) => {
            const port = sl.ports?.find((p) => (ep.port ? p.name === ep.port : true))?.port;
            if (!port) return [];
            // Only ready endpoints, as prometheus-operator's default.
            return (sl.endpoints ?? [])
              .filter((e) => e.conditions?.ready !== false)
              .flatMap((e) =>
                e.addresses.map((a) => ({
                  targets: [`${a}:${port}`],
                  labels: {
                    namespace: svc.metadata.namespace,
                    service: svc.metadata.name,
                    // prometheus-operator's default job label: the Service's name.
                    job: svc.metadata.name,
                    ...(e.targetRef?.kind === 'Pod' && e.targetRef.name ? { pod: e.targetRef.name } : {}),
                    ...(ep.port ? { endpoint: ep.port } : {}),
                  },
                })),
              );
          }),
      );
      const interval = opts.intervalOverride ?? ep.interval;
      return {
        job_name: `serviceMonitor/${ns}/${sm.metadata.name}/${i}`,
        ...(interval ? { scrape_interval: interval } : {}),
        // Prometheus refuses a timeout longer than the interval (its default timeout is 10 s).
        ...(opts.intervalOverride ? { scrape_timeout: opts.intervalOverride } : {}),
        metrics_path: ep.path ?? '/metrics',
        scheme: ep.scheme ?? 'http',
        honor_labels: false,
        static_configs: groups,
      };
    });
  });
}
