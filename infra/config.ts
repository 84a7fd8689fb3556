import { type Static, Type } from '@sinclair/typebox';
import { Value, type ValueError, ValueErrorType } from '@sinclair/typebox/value';

/**
 * The stack configuration of the Pulumi program: everything that differs between dev, staging and prod
 * lives here and nowhere else. Values come from `Pulumi.<stack>.yaml` under the `novapos:` namespace
 * (structured values are YAML objects); secrets are separate (see SECRET_KEYS) and are read only with
 * `config.requireSecret`, so they stay Pulumi secrets end to end.
 *
 * `parseStackConfig` is pure: it takes the raw values and returns the typed config or throws one
 * StackConfigError that lists every missing or wrong value, each as `novapos:<key>: <what is wrong>`.
 */

export const CONFIG_NAMESPACE = 'novapos';

const DnsLabel = Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$', description: 'a DNS label' });
/** Prometheus' duration format (`30s`, `15m`, `15d`, `1w`). */
const PromDuration = Type.String({
  pattern: '^([0-9]+(ms|s|m|h|d|w|y))+$',
  description: 'a duration like 15d',
});
const Quantity = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$' });
const Email = Type.String({ pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', description: 'an email address' });
const SlackChannel = Type.String({
  pattern: '^#[a-z0-9][a-z0-9._-]{0,79}$',
  description: 'a Slack channel like #alerts',
});
const Replicas = Type.Integer({ minimum: 1, maximum: 10 });

const ScheduleSchema = Type.Object(
  {
    /** How long one responder is on call. */
    rotationHours: Type.Integer({ minimum: 1, maximum: 24 * 28 }),
    /** IANA time zone of the rotation, e.g. Europe/Berlin. */
    timeZone: Type.String({ pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$' }),
    /** RFC 3339 start of the first rotation. */
    start: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(Z|[+-]\\d{2}:\\d{2})$' }),
  },
  { additionalProperties: false },
);

const TeamSchema = Type.Object(
  {
    /** First level: existing PagerDuty users (by email), on a rotation when `schedule` is set. */
    responders: Type.Array(Email, { minItems: 1 }),
    /** Second level, after `escalationDelayMinutes` without acknowledgement. */
    escalation: Type.Array(Email, { minItems: 1 }),
    escalationDelayMinutes: Type.Integer({ minimum: 1, maximum: 240 }),
    /** How many times the policy repeats when nobody acknowledges. */
    numLoops: Type.Integer({ minimum: 0, maximum: 9 }),
    schedule: Type.Optional(ScheduleSchema),
  },
  { additionalProperties: false },
);

export const TEAMS = ['security', 'platform'] as const;
export type TeamName = (typeof TEAMS)[number];

export const StackConfigSchema = Type.Object(
  {
    /** Shown in alert labels (`environment`) and dashboards. */
    environment: Type.Union([Type.Literal('dev'), Type.Literal('staging'), Type.Literal('prod')], {
      description: 'one of dev, staging, prod',
    }),
    /**
     * Mark every Kubernetes resource `pulumi.com/skipAwait: "true"`: the provider does not wait for pods to
     * become ready. True where nothing runs pods (dev without kubelet, tests); false in real clusters.
     */
    skipAwait: Type.Boolean(),
    /** Namespace of Prometheus, Alertmanager, Grafana, the rules and the ServiceMonitors (created). */
    monitoringNamespace: DnsLabel,
    /** Namespaces where auth-service and integration-gateway run (ServiceMonitor namespaceSelector). */
    appNamespaces: Type.Array(DnsLabel, { minItems: 1 }),
    /** Namespace of the operator (its metrics ServiceMonitor, the drill alert-delivery endpoint). */
    operatorNamespace: DnsLabel,
    prometheus: Type.Object(
      {
        replicas: Replicas,
        retention: PromDuration,
        scrapeInterval: PromDuration,
        /** PersistentVolumeClaim size per replica; no storage (emptyDir) when absent. */
        storageSize: Type.Optional(Quantity),
      },
      { additionalProperties: false },
    ),
    alertmanager: Type.Object({ replicas: Replicas }, { additionalProperties: false }),
    grafana: Type.Object(
      { enabled: Type.Boolean(), replicas: Replicas, image: Type.String({ pattern: '^[^\\s:]+:[^\\s]+$' }) },
      { additionalProperties: false },
    ),
    /** Parts of the project applied by this stack. */
    features: Type.Object(
      {
        /** crds/*.yaml (the operator's CRDs). */
        crds: Type.Boolean(),
        /** charts/dist/*.yaml (the cdk8s charts: operator, RBAC, services). */
        charts: Type.Boolean(),
        /**
         * With `charts`: also charts/dist/novapos-services.yaml (auth-service, integration-gateway,
         * audit-service, the database-role Job). Default true; false where their dependencies (OpenBao,
         * PostgreSQL, Redis, Kafka) are not reachable from the cluster and readiness is awaited: only the
         * operator's chart and the services' Namespace (the operator's chart grants Roles in it) are applied.
         * A list applies only those components (`app.kubernetes.io/component`: `auth-service`, `gateway`,
         * `audit-service`, `db-roles`), e.g. where Kafka is not reachable from pods yet.
         */
        services: Type.Optional(
          Type.Union([
            Type.Boolean(),
            Type.Array(
              Type.Union([
                Type.Literal('auth-service'),
                Type.Literal('gateway'),
                Type.Literal('audit-service'),
                Type.Literal('db-roles'),
              ]),
              { uniqueItems: true },
            ),
          ]),
        ),
      },
      { additionalProperties: false },
    ),
    alerting: Type.Object(
      {
        /** When false, critical alerts go to Slack instead of PagerDuty (dev: nobody is woken up). */
        pageOnCritical: Type.Boolean(),
        slackSecurityChannel: SlackChannel,
        slackSreChannel: SlackChannel,
        groupWait: Type.Optional(PromDuration),
        groupInterval: Type.Optional(PromDuration),
        repeatInterval: Type.Optional(PromDuration),
      },
      { additionalProperties: false },
    ),
    pagerduty: Type.Object(
      {
        /**
         * Manage PagerDuty (services, escalation policies, schedules, Events v2 integrations). Needs the
         * `pagerduty:token` secret. False where PagerDuty cannot be reached (the local test stack).
         */
        enabled: Type.Boolean(),
        teams: Type.Object({ security: TeamSchema, platform: TeamSchema }, { additionalProperties: false }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type StackConfig = Static<typeof StackConfigSchema>;
export type TeamConfig = StackConfig['pagerduty']['teams'][TeamName];

/** Secret config keys (under `novapos:`), set with `pulumi config set --secret`. */
export const SECRET_KEYS = {
  slackSecurityWebhookUrl: 'slackSecurityWebhookUrl',
  slackSreWebhookUrl: 'slackSreWebhookUrl',
  grafanaAdminPassword: 'grafanaAdminPassword',
  /** Bearer token Alertmanager's drill receiver sends to the operator's drill webhook. */
  drillWebhookToken: 'drillWebhookToken',
} as const;

export class StackConfigError extends Error {
  readonly code = 'STACK_CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`invalid stack configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'StackConfigError';
  }
}

/** JSON pointer `/prometheus/retention` → `novapos:prometheus.retention`. */
function keyOf(pointer: string): string {
  return `${CONFIG_NAMESPACE}:${pointer.split('/').filter(Boolean).join('.')}`;
}

function problemOf(error: ValueError): string {
  const key = keyOf(error.path);
  if (error.type === ValueErrorType.ObjectRequiredProperty) return `${key}: missing (required)`;
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return `${key}: unknown key (a typo?)`;
  const what = error.schema['description']
    ? `must be ${error.schema['description']}`
    : error.message.toLowerCase();
  return `${key}: ${what} (got ${JSON.stringify(error.value)})`;
}

const secretKeys: readonly string[] = Object.values(SECRET_KEYS);

/**
 * Validates raw config values (top-level key → parsed value, as `config.getObject` returns them; secret keys
 * are ignored here) and returns the typed config. Throws a StackConfigError listing every problem at once.
 */
export function parseStackConfig(raw: Readonly<Record<string, unknown>>): StackConfig {
  const values = Object.fromEntries(
    Object.entries(raw).filter(([key, value]) => value !== undefined && !secretKeys.includes(key)),
  );
  const problems = [...Value.Errors(StackConfigSchema, values)]
    // A missing value is reported once, as missing, not again for each constraint it fails.
    .filter((e) => e.value !== undefined || e.type === ValueErrorType.ObjectRequiredProperty)
    .map(problemOf);
  if (problems.length === 0 && values['environment'] === 'prod' && values['skipAwait'] === true) {
    problems.push(`${CONFIG_NAMESPACE}:skipAwait: must be false in prod (pod readiness must be awaited)`);
  }
  if (problems.length > 0) throw new StackConfigError([...new Set(problems)]);
  return values as StackConfig;
}

/** The part of `pulumi.Config` the loader needs (so a test can hand in plain values). */
export interface ConfigSource {
  get(key: string): string | undefined;
}

/** Pulumi keeps every value as a string: structured values and booleans/numbers as JSON. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Reads the stack's `novapos:` keys (`keys`: every key present, so a misspelt one is reported; secret keys
 * are skipped and never read here) and validates them.
 */
export function loadStackConfig(config: ConfigSource, keys: readonly string[]): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    if (secretKeys.includes(key)) continue;
    const text = config.get(key);
    if (text !== undefined) raw[key] = parseValue(text);
  }
  return parseStackConfig(raw);
}
