import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values are secret wherever they appear in a log record, at any depth. Matching ignores
 * case, `-` and `_` (so `refreshToken`, `refresh_token` and `Refresh-Token` are one name). One list for every
 * part of the project: a secret handed to a logger by mistake is still never written.
 */
export const SECRET_FIELDS = [
  // passwords
  'password',
  'newPassword',
  'currentPassword',
  'oldPassword',
  'passwordHash',
  // tokens and keys
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'enrollmentToken',
  'bootstrapToken',
  'apiKey',
  'key',
  'keyHash',
  'tokenHash',
  'privateKey',
  'privateJwk',
  'd',
  'p',
  'q',
  'dp',
  'dq',
  'qi',
  'k',
  // MFA
  'secret',
  'totpSecret',
  'mfaSecret',
  'mfaPendingSecret',
  'otpauthUri',
  'mfaCode',
  'code',
  'recoveryCode',
  'recoveryCodes',
  'codeHash',
  'plaintext',
  // transport
  'authorization',
  'x-api-key',
  'x-vault-token',
  'x-bootstrap-token',
  'cookie',
  'set-cookie',
  // generic payloads (Vault KV data, form values)
  'value',
  'values',
  'data',
] as const;

const normalize = (name: string) => name.toLowerCase().replace(/[-_]/g, '');
const SECRET_NAMES = new Set<string>(SECRET_FIELDS.map(normalize));
const CENSOR = '[redacted]';
/** Deeper than this, a value is replaced as a whole: no record nests that far on purpose. */
const MAX_DEPTH = 16;

/** True when a field of this name is secret (the shared list above). */
export function isSecretField(name: string): boolean {
  return SECRET_NAMES.has(normalize(name));
}

/** A copy of `value` with every secret field replaced by `[redacted]`, at any depth (cycles cut). */
export function redactSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH || seen.has(value)) return CENSOR;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1, seen));
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  const source =
    value instanceof Error
      ? { type: value.name, message: value.message, ...(value as unknown as Record<string, unknown>) }
      : (value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source)) {
    out[k] = isSecretField(k) && v !== undefined && v !== null ? CENSOR : redactSecrets(v, depth + 1, seen);
  }
  return out;
}

export interface LogOptions {
  /** `operator`, `auth-service`, `integration-gateway`. */
  readonly component: string;
  /** Default `info`; `LOG_LEVEL` in each part's config. */
  readonly level?: string;
  /** Where records go; default stdout. Tests pass a stream to capture and scan them. */
  readonly destination?: pino.DestinationStream;
}

/** JSON logs with a `component` field, ISO timestamps and secret fields redacted. */
export function createLogger(opts: LogOptions): Logger {
  return redactingChildren(
    pino(
      {
        level: opts.level ?? 'info',
        base: { component: opts.component },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: {
          level: (label) => ({ level: label }),
          // Every record and every child logger's bindings, at any depth (pino's own redact needs fixed paths).
          log: (record) => redactSecrets(record) as Record<string, unknown>,
        },
      },
      opts.destination,
    ),
  );
}

/**
 * Child bindings are written as given (no formatter sees them): redact them when the child is made. Set once
 * on the root: pino's children inherit `child` from their parent, and `this` is the logger it is called on, so
 * a grandchild keeps every binding of the chain.
 */
function redactingChildren<L extends Logger>(logger: L): L {
  const pinoChild = logger.child as unknown as (
    this: Logger,
    b: pino.Bindings,
    o?: pino.ChildLoggerOptions,
  ) => Logger;
  logger.child = function (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
    return pinoChild.call(this, redactSecrets(bindings) as pino.Bindings, options);
  } as unknown as L['child'];
  return logger;
}
