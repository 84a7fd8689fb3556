import { createLogger, type Logger } from '../log.js';

export interface Stoppable {
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface ServiceEntry<C> {
  /** `auth-service`, `integration-gateway`, `audit-service`: the log records' component. */
  readonly component: string;
  /** Reads the configuration; a thrown error with `code: 'invalid_config'` exits 2 with its one line. */
  readonly configure: () => C;
  readonly start: (config: C) => Promise<Stoppable>;
  /** After SIGTERM, how long close() may take before the process exits anyway. Default 25 s (the pod's 30 s grace). */
  readonly shutdownTimeoutMs?: number;
}

const isConfigError = (err: unknown): err is Error =>
  err instanceof Error && (err as { code?: unknown }).code === 'invalid_config';

/**
 * The one entry point of every service: configuration, start, and a graceful shutdown on SIGTERM/SIGINT
 * (close listeners and clients, exit 0; exit 1 if close hangs past the timeout). Exit codes: 2 for an invalid
 * configuration (one line saying what to fix), 1 for a failure to start (the error class only: a message may
 * quote input or a secret).
 */
export function runService<C>(entry: ServiceEntry<C>, proc: NodeJS.Process = process): void {
  const fallbackLog = () => createLogger({ component: entry.component });
  let config: C;
  try {
    config = entry.configure();
  } catch (err) {
    if (!isConfigError(err)) throw err;
    fallbackLog().fatal({ event: 'invalid_config', error: err.message }, 'invalid configuration');
    proc.exit(2);
    return;
  }
  entry.start(config).then(
    (running) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        running.logger.info({ event: 'stopping', signal }, `${entry.component} stopping`);
        const timer = setTimeout(() => {
          running.logger.error(
            { event: 'shutdown_timeout', signal },
            `${entry.component} did not stop in time`,
          );
          proc.exit(1);
        }, entry.shutdownTimeoutMs ?? 25_000);
        timer.unref();
        running.close().then(
          () => proc.exit(0),
          (err: unknown) => {
            running.logger.error(
              { event: 'shutdown_failed', error: err instanceof Error ? err.name : 'unknown' },
              `${entry.component} failed to stop cleanly`,
            );
            proc.exit(1);
          },
        );
      };
      proc.once('SIGTERM', () => stop('SIGTERM'));
      proc.once('SIGINT', () => stop('SIGINT'));
    },
    (err: unknown) => {
      fallbackLog().fatal(
        {
          event: 'start_failed',
          error: err instanceof Error ? err.name : 'unknown',
          error_code: (err as { code?: string })?.code,
        },
        `${entry.component} failed to start`,
      );
      proc.exit(1);
    },
  );
}
