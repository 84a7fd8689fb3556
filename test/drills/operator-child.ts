/**
 * The operator as a separate process with the DisasterRecoveryDrill and TenantRateLimit controllers, for
 * the test that kills it (kill -9) in the middle of a drill.
 *
 * Env: KUBECONFIG, DRILL_NAMESPACE (watched), REDIS_URL, DRILL_AUTH_SERVICE_URL, DRILL_GATEWAY_URL,
 * ALERTMANAGER_URL. Prints "ready" on stdout once started.
 */
import { startDrillOperator } from './support.js';

const env = process.env;
const operator = await startDrillOperator({
  kubeconfig: env.KUBECONFIG!,
  namespace: env.DRILL_NAMESPACE!,
  redisUrl: env.REDIS_URL!,
  authServiceUrl: env.DRILL_AUTH_SERVICE_URL!,
  gatewayUrl: env.DRILL_GATEWAY_URL!,
  gatewayMetricsUrls: env.DRILL_GATEWAY_METRICS_URLS?.split(','),
  alertmanagerUrl: env.ALERTMANAGER_URL!,
  identity: `drill-child-${process.pid}`,
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => void operator.stop().then(() => process.exit(0)));
