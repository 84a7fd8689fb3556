import { runService } from '../../../lib/service-kit/run-service.js';
import { configFromEnv } from './config.js';
import { startGateway } from './server.js';

/** Entry point: configuration from the environment, then the gateway; SIGTERM/SIGINT close it cleanly. */
runService({
  component: 'integration-gateway',
  configure: () => configFromEnv(process.env),
  start: (config) => startGateway(config),
});
