import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values are secret wherever they appear in a log record. pino replaces them before the
 * record is serialised, so a secret handed to a logger by mistake is still never written.
 */
export const SECRET_FIELDS = [
  'password',
  'newPassword',
  'token',
  'accessToken',
  'refreshToken',
  'refresh_token',
  'access_token',
  'apiKey',
  'api_key',
  'secret',
  'totpSecret',
  'mfaCode',
  'privateKey',
  'privateJwk',
  'd',
  'p',
  'q',
  'dp',
  'dq',
  'qi',
  'authorization',
  'x-api-key',
  'x-vault-token',
  'cookie',
  'value',
  'values',
  'data',
] as const;

const redactPaths = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]).map((p) =>
  p.includes('-') ? p.replace(/([^.*]+-[^.]+)$/, '["$1"]') : p,
);

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
  return pino(
    {
      level: opts.level ?? 'info',
      base: { component: opts.component },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: '[redacted]' },
    },
    opts.destination,
  );
}
