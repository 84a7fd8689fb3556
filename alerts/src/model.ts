/**
 * The shape of the project's Prometheus rules. Rules are written once in TypeScript (alerts/src/<area>.ts) and
 * rendered to the plain rule files promtool tests (alerts/<area>.rules.yaml) and to a PrometheusRule resource.
 */

/** critical (P0/P1) pages through PagerDuty; warning (P2) goes to Slack; info goes to neither (contracts). */
export type Severity = 'critical' | 'warning' | 'info';

/** Who owns the alert; Slack warnings are routed by it. */
export type Team = 'security' | 'sre';

/** Where every alert's runbook lives: one page per alert, named after the alert. */
export const RUNBOOK_BASE_URL = 'https://github.com/novapos/security-control-plane/blob/main/docs/runbooks/';

export function runbookUrl(alertName: string): string {
  return `${RUNBOOK_BASE_URL}${alertName}.md`;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity; readonly team: Team } & Readonly<Record<string, string>>;
  readonly annotations: {
    readonly summary: string;
    readonly description: string;
    readonly runbook_url: string;
  };
}

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export type Rule = AlertRule | RecordingRule;

export interface RuleGroup {
  readonly name: string;
  /** Evaluation interval of the group; Prometheus' global one when absent. */
  readonly interval?: string;
  readonly rules: readonly Rule[];
}

/** One rule file: one alert area, one promtool test file. */
export interface RuleArea {
  /** File stem: alerts/<area>.rules.yaml, alerts/tests/<area>.test.yaml. */
  readonly area: string;
  readonly groups: readonly RuleGroup[];
}

export interface AlertSpec {
  readonly name: string;
  readonly expr: string;
  readonly for: string;
  readonly severity: Severity;
  readonly team: Team;
  readonly summary: string;
  readonly description: string;
  /** Extra static labels. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** An alert with the labels and annotations every alert must carry; the runbook URL follows from the name. */
export function alert(spec: AlertSpec): AlertRule {
  return {
    alert: spec.name,
    expr: spec.expr,
    for: spec.for,
    labels: { severity: spec.severity, team: spec.team, ...spec.labels },
    annotations: { summary: spec.summary, description: spec.description, runbook_url: runbookUrl(spec.name) },
  };
}

export function isAlert(rule: Rule): rule is AlertRule {
  return 'alert' in rule;
}

export function alertsOf(areas: readonly RuleArea[]): AlertRule[] {
  return areas.flatMap((a) => a.groups.flatMap((g) => g.rules.filter(isAlert)));
}
