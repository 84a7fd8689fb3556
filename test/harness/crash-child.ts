/**
 * The process the crash tests kill: starts an environment, prints one JSON line with the pid and port of
 * every component, then waits to be killed. With `--stop-on-signals` it stops the environment on
 * SIGINT/SIGTERM first (the Ctrl-C path); without, a kill leaves the cleanup to the harness's safety nets.
 */
import { startEnv } from './env.js';
import { stopOnSignals } from './signals.js';

const env = await startEnv({
  label: 'crash-child',
  redis: true,
  postgres: true,
  prometheus: true,
  alertmanager: true,
});
if (process.argv.includes('--stop-on-signals')) stopOnSignals(() => env.stop());

const port = (url: string | undefined) => Number(new URL(url!).port);
const report = {
  dir: env.dir,
  pids: {
    redis: env.redis!.process.pid,
    postgres: env.postgres!.process.pid,
    prometheus: env.prometheus!.process.pid,
    alertmanager: env.alertmanager!.process.pid,
  },
  ports: {
    redis: env.redis!.port,
    postgres: env.postgres!.port,
    prometheus: env.prometheus!.port,
    alertmanager: env.alertmanager!.port,
    pagerduty: port(env.pagerduty!.url),
    slack: port(env.slack!.url),
  },
};
process.stdout.write(`${JSON.stringify(report)}\n`);
// Keep running until killed.
setInterval(() => {}, 60_000);
