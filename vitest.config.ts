import { defineConfig } from 'vitest/config';

// Two tiers. Unit tests sit beside the code and need nothing running. Integration tests live under
// test/ and get the real components from the harness: one shared environment started by the global
// setup, and private ones for suites that kill or break a component.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{lib,operator,services,charts,dashboards,infra,alerts,scripts,cli,test/harness}/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', 'test/**/*.int.test.ts'],
          testTimeout: 10_000,
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
          // Integration suites share real servers; 2 cores: run files two at a time at most.
          fileParallelism: true,
          maxWorkers: 2,
          pool: 'forks',
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
