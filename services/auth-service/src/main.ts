import { runService } from '../../../lib/service-kit/run-service.js';
import { configFromEnv } from './config.js';
import { startAuthService } from './server.js';

/** Entry point: configuration from the environment, then the service; SIGTERM/SIGINT close it cleanly. */
runService({
  component: 'auth-service',
  configure: () => configFromEnv(process.env),
  start: (config) => startAuthService(config),
});
