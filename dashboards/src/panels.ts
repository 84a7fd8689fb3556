import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Every query goes to the data source picked in the dashboard's `datasource` variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable reference, not a JS template
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

export interface Query {
  readonly expr: string;
  readonly legend?: string;
}

export interface PanelOptions {
  readonly title: string;
  /** What the panel shows and how to read it; shown as the panel's (i) tooltip. */
  readonly description: string;
  readonly queries: readonly Query[];
  readonly unit?: string;
  /** Drawn as a red line (time series) or colour step (stat, bar gauge): the alert threshold. */
  readonly threshold?: number;
  /** Grid width out of 24. */
  readonly width?: number;
  readonly height?: number;
}

function targets(queries: readonly Query[]): cog.Builder<cog.Dataquery>[] {
  return queries.map((q, i) => {
    const b = new prometheus.DataqueryBuilder()
      .datasource(DATASOURCE)
      .refId(String.fromCharCode(65 + i))
      .expr(q.expr);
    return q.legend ? b.legendFormat(q.legend) : b;
  });
}

function thresholds(value: number | undefined): dashboard.ThresholdsConfigBuilder {
  const steps: dashboard.Threshold[] = [{ value: null, color: 'green' }];
  if (value !== undefined) steps.push({ value, color: 'red' });
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

export function timeseriesPanel(o: PanelOptions): timeseries.PanelBuilder {
  const p = new timeseries.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .datasource(DATASOURCE)
    .targets(targets(o.queries))
    .unit(o.unit ?? 'short')
    .span(o.width ?? 12)
    .height(o.height ?? 8)
    .fillOpacity(10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['lastNotNull', 'max']),
    )
    .thresholds(thresholds(o.threshold));
  if (o.threshold !== undefined) {
    p.thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
  }
  return p;
}

export function statPanel(o: PanelOptions): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .datasource(DATASOURCE)
    .targets(targets(o.queries))
    .unit(o.unit ?? 'short')
    .span(o.width ?? 6)
    .height(o.height ?? 5)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .colorMode(common.BigValueColorMode.Background)
    .thresholds(thresholds(o.threshold));
}

export function barGaugePanel(o: PanelOptions): bargauge.PanelBuilder {
  return new bargauge.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .datasource(DATASOURCE)
    .targets(targets(o.queries))
    .unit(o.unit ?? 'short')
    .span(o.width ?? 12)
    .height(o.height ?? 8)
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .thresholds(thresholds(o.threshold));
}

export function stateTimelinePanel(o: PanelOptions): statetimeline.PanelBuilder {
  return new statetimeline.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .datasource(DATASOURCE)
    .targets(targets(o.queries))
    .span(o.width ?? 12)
    .height(o.height ?? 8)
    .thresholds(thresholds(o.threshold));
}

export function row(title: string): dashboard.RowBuilder {
  return new dashboard.RowBuilder(title);
}

export interface DashboardOptions {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  /** A `tenant` variable fed from this metric's tenant label. */
  readonly tenantFrom?: string;
}

/** A dashboard with the project's defaults: Prometheus data source variable, last 6 hours, 30 s refresh. */
export function newDashboard(o: DashboardOptions): dashboard.DashboardBuilder {
  const d = new dashboard.DashboardBuilder(o.title)
    .uid(o.uid)
    .description(o.description)
    .tags(['novapos', 'security', ...o.tags])
    .editable()
    .timezone('utc')
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .withVariable(
      new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'),
    );
  if (o.tenantFrom) {
    d.withVariable(
      new dashboard.QueryVariableBuilder('tenant')
        .label('Tenant')
        .datasource(DATASOURCE)
        .query(`label_values(${o.tenantFrom}, tenant)`)
        .definition(`label_values(${o.tenantFrom}, tenant)`)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(dashboard.VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    );
  }
  return d;
}

/** The built dashboard with panel ids numbered in order (Grafana needs them unique; the builder leaves them out). */
export function finish(d: dashboard.DashboardBuilder): dashboard.Dashboard {
  const built = d.build();
  let id = 0;
  const number = (panels: unknown[] | undefined) => {
    for (const p of panels ?? []) {
      const panel = p as { id?: number; panels?: unknown[] };
      panel.id = ++id;
      number(panel.panels);
    }
  };
  number(built.panels as unknown[]);
  return built;
}
