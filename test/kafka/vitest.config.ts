import { defineConfig } from 'vitest/config';

// The Kafka and audit suites start their own broker and PostgreSQL (startKafka, startPostgres): this config
// runs them alone, without the integration tier's shared environment (kube, OpenBao, Prometheus...), e.g.
//   npx vitest run --config test/kafka/vitest.config.ts test/kafka/broker.int.test.ts
// `npm test` runs the same files in the integration project as usual.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/kafka/**/*.int.test.ts', 'test/audit/**/*.int.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
