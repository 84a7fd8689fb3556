import { CronExpressionParser } from 'cron-parser';
import { formatDuration, parseDuration } from '../../../lib/duration.js';
import { SIGNING_KEYS_VAULT_PREFIX } from './meta.js';
import type { DisasterRecoveryDrillSpec } from './v1alpha1/disasterrecoverydrill.js';
import type { SecretPromotionSpec } from './v1alpha1/secretpromotion.js';
import type { SigningKeyRotationSpec } from './v1alpha1/signingkeyrotation.js';

/**
 * Checks the apiserver cannot make: a cron expression that parses, a schedule compared with durations,
 * key patterns, Vault paths. Each problem names the field and says how to fix it; controllers put them in
 * the Ready condition with reason InvalidSpec (see `describeProblems`). All functions are pure: the clock
 * is an argument.
 */

export interface SpecProblem {
  /** Path of the offending field, e.g. spec.schedule. */
  readonly field: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** One line for a condition message: `spec.schedule: ...; spec.timeZone: ...`. */
export function describeProblems(problems: readonly SpecProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}

// ---------------------------------------------------------------------------------------------------------
// Durations: one parser for the CRDs, the operator and the plugin (lib/duration.ts), re-exported for the
// controllers that read durations from specs.

export { formatDuration, parseDuration };

// ---------------------------------------------------------------------------------------------------------
// Schedules

/** The problem with an IANA time zone name, if any. */
export function checkTimeZone(timeZone: string | undefined, field: string): SpecProblem | undefined {
  if (timeZone === undefined) return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return undefined;
  } catch {
    return {
      field,
      message: `"${timeZone}" is not a known IANA time zone: use a name such as UTC or Europe/Berlin`,
    };
  }
}

/** The problem with a cron schedule, if any: it must parse and run at least once. */
export function checkCron(schedule: string, field: string, timeZone?: string): SpecProblem | undefined {
  if (/\bH\b/.test(schedule)) {
    return {
      field,
      message: `"${schedule}" uses H (hashed values), which CronJob syntax does not have: write the minute or hour out`,
    };
  }
  try {
    const expr = CronExpressionParser.parse(schedule, { tz: timeZone ?? 'UTC', currentDate: new Date(0) });
    expr.next();
    return undefined;
  } catch (err) {
    return {
      field,
      message: `"${schedule}" is not a valid schedule (${err instanceof Error ? err.message : String(err)}): use five fields "minute hour day-of-month month day-of-week", e.g. "0 3 * * 1"`,
    };
  }
}

/**
 * The shortest time between two consecutive runs of a schedule, sampled over the year after `from`
 * (at most 1000 runs). Throws on an invalid schedule: call `checkCron` first.
 */
export function shortestScheduleGapMs(schedule: string, timeZone: string | undefined, from: Date): number {
  const expr = CronExpressionParser.parse(schedule, { tz: timeZone ?? 'UTC', currentDate: from });
  const horizon = from.getTime() + 366 * 24 * 3_600_000;
  let previous = expr.next().getTime();
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 1000 && previous < horizon && expr.hasNext(); i++) {
    const next = expr.next().getTime();
    shortest = Math.min(shortest, next - previous);
    previous = next;
  }
  return shortest;
}

/** The next run of a schedule strictly after `after`. */
export function nextScheduleTime(schedule: string, timeZone: string | undefined, after: Date): Date {
  return CronExpressionParser.parse(schedule, { tz: timeZone ?? 'UTC', currentDate: after })
    .next()
    .toDate();
}

// ---------------------------------------------------------------------------------------------------------
// Vault paths

/**
 * A Vault path in canonical form: no leading, trailing or doubled slashes. Throws on `.` and `..`
 * segments, which Vault would not resolve the way a reader expects.
 */
export function normalizeVaultPath(path: string): string {
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..'))
    throw new Error(`Vault path "${path}" has a . or .. segment`);
  return segments.join('/');
}

/**
 * Whether `<mount>/<path>` lies in the signing-key tree (`novapos/signing-keys/` at any depth), however the
 * mount and path split it. Controllers check every path they would read or write for a promotion, including
 * each secret found under a prefix.
 */
export function isSigningKeyPath(mount: string, path: string): boolean {
  const full = `/${normalizeVaultPath(`${mount}/${path}`)}/`;
  return full.includes(`/${SIGNING_KEYS_VAULT_PREFIX}`);
}

/** Whether `key` matches an include/exclude pattern: the name itself, `*` matching any characters. */
export function keyMatches(pattern: string, key: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return regex.test(key);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a key is promoted under spec.keys. */
export function keySelected(keys: SecretPromotionSpec['keys'], key: string): boolean {
  const included = !keys?.include?.length || keys.include.some((p) => keyMatches(p, key));
  return included && !keys?.exclude?.some((p) => keyMatches(p, key));
}

// ---------------------------------------------------------------------------------------------------------
// Per kind

export function validateSigningKeyRotationSpec(spec: SigningKeyRotationSpec, now: Date): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const tz = checkTimeZone(spec.timeZone, 'spec.timeZone');
  if (tz) problems.push(tz);
  if (spec.schedule !== undefined) {
    const cron = checkCron(spec.schedule, 'spec.schedule', tz ? undefined : spec.timeZone);
    if (cron) problems.push(cron);
    else {
      // The CEL rule "rotationInterval > leadTime", for a schedule: every gap must leave room for the lead time.
      const gap = shortestScheduleGapMs(spec.schedule, tz ? undefined : spec.timeZone, now);
      const lead = parseDuration(spec.leadTime);
      if (gap <= lead) {
        problems.push({
          field: 'spec.schedule',
          message: `runs as little as ${formatDuration(gap)} apart, not longer than spec.leadTime (${spec.leadTime}): each new key is published leadTime before it signs, so schedule rotations further apart or shorten leadTime`,
        });
      }
    }
  }
  return problems;
}

export function validateSecretPromotionSpec(spec: SecretPromotionSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const source = spec.source;
  const sourcePath = source.path ?? source.prefix;
  if (sourcePath !== undefined && isSigningKeyPath(source.mount, sourcePath)) {
    problems.push({
      field: source.path !== undefined ? 'spec.source.path' : 'spec.source.prefix',
      message:
        'is in the signing-key tree (novapos/signing-keys/), which is never promoted: promote another path',
    });
  }
  spec.targets.forEach((target, i) => {
    if (isSigningKeyPath(target.mount, target.path)) {
      problems.push({
        field: `spec.targets[${i}].path`,
        message:
          'is in the signing-key tree (novapos/signing-keys/), which is never written by a promotion: choose another path',
      });
    }
    target.overrides?.forEach((override, j) => {
      const field = `spec.targets[${i}].overrides[${j}]`;
      const from = override.valueFrom;
      const fromConnection = from.connection ?? target.connection;
      if (isSigningKeyPath(from.mount, from.path)) {
        problems.push({
          field: `${field}.valueFrom.path`,
          message: 'is in the signing-key tree (novapos/signing-keys/): an override cannot read signing keys',
        });
      }
      if (
        fromConnection === target.connection &&
        from.mount === target.mount &&
        normalizeVaultPath(from.path) === normalizeVaultPath(target.path)
      ) {
        problems.push({
          field: `${field}.valueFrom.path`,
          message: `reads the target secret itself (${target.mount}/${target.path}): keep override values in a separate path, e.g. ${target.path}-overrides`,
        });
      }
      if (!keySelected(spec.keys, override.key)) {
        problems.push({
          field: `${field}.key`,
          message: `"${override.key}" is not promoted under spec.keys (include/exclude), so the override would never apply: add it to spec.keys.include or remove the override`,
        });
      }
    });
  });
  return problems;
}

export function validateDisasterRecoveryDrillSpec(spec: DisasterRecoveryDrillSpec, now: Date): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const tz = checkTimeZone(spec.timeZone, 'spec.timeZone');
  if (tz) problems.push(tz);
  const cron = checkCron(spec.schedule, 'spec.schedule', tz ? undefined : spec.timeZone);
  if (cron) {
    problems.push(cron);
    return problems;
  }
  // The steps run one after another; a run that outlasts the gap to the next run would overlap it.
  const { keyRotation, redisOutage, auditCatchUp, alertDelivery } = spec.steps;
  const parts: [string, string | undefined][] = [
    ['steps.keyRotation.duration', keyRotation?.duration],
    ['steps.redisOutage.duration', redisOutage?.duration],
    ['steps.auditCatchUp.maxPause', auditCatchUp?.maxPause],
    ['steps.auditCatchUp.timeout', auditCatchUp?.timeout],
    ['steps.alertDelivery.timeout', alertDelivery?.timeout],
  ];
  const present = parts.filter((p): p is [string, string] => p[1] !== undefined);
  const total = present.reduce((sum, [, d]) => sum + parseDuration(d), 0);
  const gap = shortestScheduleGapMs(spec.schedule, tz ? undefined : spec.timeZone, now);
  if (total >= gap) {
    problems.push({
      field: 'spec.schedule',
      message: `runs as little as ${formatDuration(gap)} apart, but the steps take up to ${formatDuration(total)} (${present.map(([f, d]) => `${f} ${d}`).join(' + ')}): schedule runs further apart or shorten the steps`,
    });
  }
  return problems;
}
