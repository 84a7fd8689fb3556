import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { ConfigError, configFromEnv, type OperatorConfig } from './config.js';
import { type ControllerFactory, loadKubeConfig, Manager } from './runtime/index.js';
import { controllersFor } from './wiring.js';

/** Wires config → kube client → manager (servers, leader election) → controllers, and starts it. */
export async function startOperator(
  config: OperatorConfig,
  factories: readonly ControllerFactory[],
  log: Logger,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Manager> {
  const manager = new Manager({
    kubeConfig: loadKubeConfig(env),
    log,
    identity: config.identity,
    watchNamespaces: config.watchNamespaces,
    leaderElection: config.leaderElection.enabled
      ? {
          leaseName: config.leaderElection.leaseName,
          namespace: config.leaderElection.leaseNamespace,
          leaseDurationMs: config.leaderElection.leaseDurationMs,
          renewDeadlineMs: config.leaderElection.renewDeadlineMs,
          retryPeriodMs: config.leaderElection.retryPeriodMs,
        }
      : false,
    metricsPort: config.metricsPort,
    probesPort: config.probesPort,
    bindAddress: config.bindAddress,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    maxConcurrentReconciles: config.maxConcurrentReconciles,
    resyncPeriodMs: config.resyncPeriodMs,
    rateLimit: config.reconcileRateLimit,
    throttle: config.kubeThrottle,
  });
  for (const factory of factories) manager.register(factory);
  await manager.start();
  return manager;
}

/** Runs until SIGTERM/SIGINT (exit 0 after a graceful stop) or lost leadership (exit 1). */
export async function main(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[],
  /** The controllers to run; by default every one the configuration supports (see wiring.ts). */
  factories?: readonly ControllerFactory[],
): Promise<number> {
  let config: OperatorConfig;
  try {
    config = configFromEnv(env, argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ component: 'operator', level: config.logLevel });
  if (config.connectionsFileAbsent)
    log.warn(
      { file: config.connectionsFile },
      'the connections file is not there (in a cluster: the Secret the chart mounts it from does not exist): running as without one (no SecretPromotion connections, no tenantOwners); create it and restart the operator',
    );
  const wiring = factories ? undefined : await controllersFor(config, env, log);
  for (const { controller, why } of wiring?.skipped ?? [])
    log.warn({ controller, why }, 'controller not started');
  let manager: Manager;
  try {
    manager = await startOperator(config, factories ?? wiring?.controllers ?? [], log, env);
  } catch (err) {
    log.fatal({ err: describeError(err) }, 'operator failed to start');
    return 1;
  }
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received');
    void (async () => {
      await wiring
        ?.beforeStop()
        .catch((err: unknown) => log.error({ err: describeError(err) }, 'stopping drills failed'));
      await manager.stop('signal');
    })();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const reason = await manager.done;
  await wiring?.close();
  return reason === 'leadership-lost' ? 1 : 0;
}

/**
 * A program that bundles this module and calls `main()` itself (the test operator with the Widget controller)
 * sets this global first: in a bundle `import.meta.url` is the bundle's, so the check below cannot tell.
 */
export const EMBEDDED = Symbol.for('novapos.operator.embedded');

function isEntrypoint(): boolean {
  if ((globalThis as Record<symbol, unknown>)[EMBEDDED]) return false;
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntrypoint()) {
  main(process.env, process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`operator: ${describeError(err)}\n`);
      process.exit(1);
    },
  );
}
