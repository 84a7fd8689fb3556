/**
 * Exit codes of kubectl-novapos (docs/cli.md lists them). A failure is one line on stderr that says what
 * went wrong and what to do; never a stack trace.
 */
export const ExitCode = {
  ok: 0,
  /** The apiserver or the network failed, or a check did not pass. */
  error: 1,
  /** The command line is wrong (unknown verb, flag or kind). */
  usage: 2,
  /** The plugin refused to do something unsafe or stale (stale plan hash, the active kid without --emergency). */
  refused: 3,
  /** The apiserver said no to this user (RBAC or an admission policy). */
  forbidden: 4,
  /** The resource does not exist. */
  notFound: 5,
  /** --wait gave up before the state was reached. */
  timeout: 6,
  /** A drill run finished and failed. */
  drillFailed: 7,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    /** What the user can do about it, appended to the line. */
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The one line printed for an error. */
export function errorLine(err: unknown): string {
  if (err instanceof CliError) return `error: ${err.message}${err.fix ? ` (${err.fix})` : ''}`;
  const message = err instanceof Error ? err.message : String(err);
  return `error: ${message.split('\n')[0]}`;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : ExitCode.error;
}
