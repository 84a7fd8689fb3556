// The operator as bench/operator-scale.ts runs it: the real entry point (operator/src/main.ts), bundled as
// the image bundles it, with
//   NOVAPOS_BENCH_CONTROLLERS=widget  the test-only Widget controller (test/runtime/widget-controller.ts);
//   NOVAPOS_BENCH_CONTROLLERS=none    no controller at all (the idle baseline of the same bundle);
//   unset                             the controllers main.ts wires from its configuration (REDIS_URL: TenantRateLimit).
// With node --expose-gc, SIGWINCH runs a full garbage collection, so the benchmark reads the live heap and
// not whatever garbage the last burst left.
import { widgetController } from '../test/runtime/widget-controller.js';

(globalThis as Record<symbol, unknown>)[Symbol.for('novapos.operator.embedded')] = true;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) process.on('SIGWINCH', () => gc());
const { main } = await import('../operator/src/main.js');
const which = process.env.NOVAPOS_BENCH_CONTROLLERS;
const controllers = which === 'widget' ? [widgetController()] : which === 'none' ? [] : undefined;
process.exit(await main(process.env, process.argv.slice(2), controllers));
