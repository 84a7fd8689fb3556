import { createLogger } from '../../../lib/log.js';
import { ConfigError, configFromEnv, type GatewayConfig } from './config.js';
import { startGateway } from './server.js';

/** Entry point: configuration from the environment, then the gateway; SIGTERM/SIGINT close it cleanly. */
async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger({ component: 'integration-gateway' }).fatal(
        { event: 'invalid_config', error: err.message },
        'invalid configuration',
      );
      process.exit(2);
    }
    throw err;
  }
  const running = await startGateway(config);
  const stop = async (signal: string) => {
    running.logger.info({ event: 'stopping', signal }, 'integration-gateway stopping');
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  createLogger({ component: 'integration-gateway' }).fatal(
    {
      event: 'start_failed',
      error: err instanceof Error ? err.name : 'unknown',
      error_code: (err as { code?: string })?.code,
    },
    'integration-gateway failed to start',
  );
  process.exit(1);
});
