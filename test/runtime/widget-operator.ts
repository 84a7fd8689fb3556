// The operator's real entry point (operator/src/main.ts) with the test-only Widget controller registered:
// what the failover test runs as child processes.
import { main } from '../../operator/src/main.js';
import { widgetController } from './widget-controller.js';

process.exit(await main(process.env, process.argv.slice(2), [widgetController()]));
