import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly expr: string;
}

interface PanelLike {
  title?: string;
  targets?: { expr?: string }[];
  panels?: PanelLike[];
}

/** Every PromQL query of every panel (rows included), with where it comes from. */
export function panelQueries(dashboards: Record<string, Dashboard>): PanelQuery[] {
  const out: PanelQuery[] = [];
  const walk = (name: string, panels: PanelLike[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? [])
        if (t.expr) out.push({ dashboard: name, panel: p.title ?? '', expr: t.expr });
      walk(name, p.panels);
    }
  };
  for (const [name, d] of Object.entries(dashboards)) walk(name, d.panels as PanelLike[] | undefined);
  return out;
}

/**
 * The query as Grafana would send it with every tenant selected: dashboard variables become the match-all
 * regex, Grafana's interval variables a fixed range.
 */
export function substituteVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '1h')
    .replaceAll(/\$\{?tenant\}?/g, '.*');
}
