import { beforeEach, inject } from 'vitest';
import { componentLogTails } from './log-tail.js';

// Setup file of the integration tier: when a test fails, its output ends with the last lines each component
// of the shared environment logged, so a failure shows what the servers saw. Suites with a private
// environment print `env.logTails()` themselves where it helps.
const LINES = 40;

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    const { logFiles } = inject('env');
    console.error(
      `[harness] component logs of the shared environment:\n${componentLogTails(logFiles, LINES)}`,
    );
  });
});
