import { type SchemaOptions, type TSchema, Type } from '@sinclair/typebox';
// Go-style durations (`90s`, `15m`, `720h`, `1h30m`): the pattern lives beside its parser, so the CRDs, the
// operator and the plugin read durations by one rule.
import { GO_DURATION_PATTERN } from '../../../lib/duration.js';

/**
 * Building blocks for the API schemas. Each kind's schema is written once with TypeBox: the object is JSON
 * Schema (turned into the CRD's OpenAPI v3 schema by `crd.ts`) and `Static<typeof X>` is its TypeScript type.
 * Kubernetes extensions (`x-kubernetes-*`) ride along as schema options.
 */

/** One CEL rule of `x-kubernetes-validations`. */
export interface CelRule {
  readonly rule: string;
  readonly message?: string;
  readonly messageExpression?: string;
  /** JSONPath-like path (relative to the schema the rule sits on) of the field the error is reported at. */
  readonly fieldPath?: string;
  readonly reason?:
    | 'FieldValueInvalid'
    | 'FieldValueForbidden'
    | 'FieldValueRequired'
    | 'FieldValueDuplicate';
  readonly optionalOldSelf?: boolean;
}

/** Schema options carrying CEL rules. */
export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/**
 * CEL that is true when every given string expression is a well-formed duration. Rules comparing
 * durations are guarded with it: `duration()` on a malformed string is an evaluation error, which would
 * repeat the pattern's message as noise.
 */
export function durationsParse(...exprs: string[]): string {
  return exprs.map((e) => `${e}.matches(r'${GO_DURATION_PATTERN}')`).join(' && ');
}

/** A positive Go-style duration. The CEL rule rejects `0s`; the pattern rejects what `duration()` cannot parse. */
export function Duration(description: string, options: SchemaOptions = {}) {
  return Type.String({
    description: `${description} A Go-style duration such as 90s, 15m or 720h.`,
    pattern: GO_DURATION_PATTERN,
    maxLength: 32,
    ...options,
    ...cel({
      rule: `!(${durationsParse('self')}) || duration(self) > duration('0s')`,
      message: 'must be a positive duration such as 90s, 15m or 720h',
    }),
  });
}

/**
 * A cron schedule as on a CronJob: five fields (minute hour day-of-month month day-of-week) or one of the
 * macros. The pattern checks the shape; `validateCron` in validation.ts checks that it parses.
 */
export const CRON_PATTERN = '^(@(yearly|annually|monthly|weekly|daily|hourly)|\\S+(\\s+\\S+){4})$';

export function Cron(description: string, options: SchemaOptions = {}) {
  return Type.String({
    description: `${description} Cron syntax as on a CronJob: "minute hour day-of-month month day-of-week" (e.g. "0 3 * * 1") or @daily, @weekly, @monthly, @yearly, @hourly.`,
    pattern: CRON_PATTERN,
    maxLength: 128,
    ...options,
  });
}

/** An IANA time zone name for a schedule, as CronJob's `timeZone`. */
export function TimeZone(description: string) {
  return Type.String({
    description: `${description} An IANA time zone name such as Europe/Berlin; UTC when omitted.`,
    pattern: '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$',
    maxLength: 64,
  });
}

/** A string from a fixed set; the CRD gets `enum`, the TypeScript type the union of the values. */
export function StringEnum<const T extends readonly [string, ...string[]]>(
  values: T,
  options: SchemaOptions,
) {
  // Unsafe only narrows the static type; the schema stays a TypeBox Union of literals, which crd.ts writes
  // as `enum` and TypeBox's Value functions check natively.
  return Type.Unsafe<T[number]>(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      options,
    ),
  );
}

/** An RFC 3339 timestamp written by the operator. */
export function Timestamp(description: string) {
  return Type.String({ description, format: 'date-time' });
}

/** A map with string keys (`additionalProperties` in the CRD). */
export function StringMap<V extends TSchema>(value: V, options: SchemaOptions) {
  return Type.Record(Type.String(), value, options);
}

/** A kubectl printer column. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  readonly priority?: number;
}

export const READY_COLUMN: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Status of the Ready condition.',
};

export const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the resource was created.',
};

/** Everything `crd.ts` needs to write one CustomResourceDefinition. */
export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** What the kind is for; the description `kubectl explain <kind>` prints. */
  readonly description: string;
  readonly spec: TSchema;
  readonly status: TSchema;
  readonly printerColumns: readonly PrinterColumn[];
  /** The file this kind is written in, named in the generated header. */
  readonly source: string;
}
