import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/harness/sequencer.js';

/**
 * Integration files at once. Most of the long files wait (a 5-minute alert window, an OpenBao outage, drill
 * schedules, leases) rather than compute, so four fit 2 cores: a warm `npm test` took 842 s with four and
 * 1,074 s with three, and the integration files' summed time barely moved (2,191 s against 2,215 s), so a
 * fourth file at once adds little contention. NOVAPOS_TEST_WORKERS overrides it.
 */
const integrationWorkers = Number(process.env.NOVAPOS_TEST_WORKERS ?? 4);

// Two tiers. Unit tests sit beside the code and need nothing running. Integration tests live under
// test/ and get the real components from the harness: one shared environment started by the global
// setup, and private ones for suites that kill or break a component.
export default defineConfig({
  test: {
    // The longest files first, from the last run's figures (test/harness/sequencer.ts).
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{lib,operator,services,charts,dashboards,infra,alerts,scripts,cli,test/harness}/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', 'test/**/*.int.test.ts'],
          testTimeout: 10_000,
          // Pure tests share each worker's module cache: re-importing cdk8s, Pulumi and the services for each
          // of ~130 files was most of the tier's time (50 s isolated, 19 s shared, on 2 cores).
          isolate: false,
          // The unit tier runs first: a failure there is reported before the real components start.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          // On a failed test, prints the shared components' log tails.
          setupFiles: ['test/harness/setup-logs.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Integration suites share real servers; see integrationWorkers above.
          fileParallelism: true,
          maxWorkers: integrationWorkers,
          pool: 'forks',
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
