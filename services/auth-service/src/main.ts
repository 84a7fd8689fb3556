import { createLogger } from '../../../lib/log.js';
import { ConfigError, configFromEnv } from './config.js';
import { startAuthService } from './server.js';

/** Entry point: configuration from the environment, then the service; SIGTERM/SIGINT close it cleanly. */
async function main(): Promise<void> {
  let config: ReturnType<typeof configFromEnv>;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger({ component: 'auth-service' }).fatal(
        { event: 'invalid_config', error: err.message },
        'invalid configuration',
      );
      process.exit(2);
    }
    throw err;
  }
  const running = await startAuthService(config);
  const stop = async (signal: string) => {
    running.logger.info({ event: 'stopping', signal }, 'auth-service stopping');
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  createLogger({ component: 'auth-service' }).fatal(
    {
      event: 'start_failed',
      error: err instanceof Error ? err.name : 'unknown',
      error_code: (err as { code?: string })?.code,
    },
    'auth-service failed to start',
  );
  process.exit(1);
});
