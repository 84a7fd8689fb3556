// The operator's real entry point (operator/src/main.ts) with the test-only Widget controller registered:
// what the failover test and the scale benchmark run as child processes.
import { widgetController } from './widget-controller.js';

// Set before main.ts loads, so a bundle of this file does not also start main.ts's own operator.
(globalThis as Record<symbol, unknown>)[Symbol.for('novapos.operator.embedded')] = true;
const { main } = await import('../../operator/src/main.js');
process.exit(await main(process.env, process.argv.slice(2), [widgetController()]));
