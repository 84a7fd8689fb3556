import { runService } from '../../../lib/service-kit/run-service.js';
import { configFromEnv } from './config.js';
import { startAuditService } from './server.js';

/** Entry point: configuration from the environment, then the consumer and the admin listener (port 9087). */
runService({
  component: 'audit-service',
  configure: () => configFromEnv(process.env),
  start: (config) => startAuditService(config),
});
