import { defineConfig } from 'vitest/config';

/**
 * Two tiers (docs/architecture.md): `unit` runs pure modules against fakes in seconds and
 * starts nothing (`npm run test:unit`); `integration` (with the e2e suites) runs against the
 * real RabbitMQ, Kafka and Kubernetes API that its global setup brings up (test/env).
 */
export default defineConfig({
  test: {
    // Integration files share one broker and one API server, and some of them stop and
    // restart a broker on purpose, so files run one after another; tests inside a file may
    // still run concurrently where they use their own destinations. Unit files share
    // nothing, so a unit-only run (`npm run test:unit`) spreads them over the cores.
    fileParallelism: process.env.BINDERY_TEST_TIER === 'unit',
    teardownTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // Brings RabbitMQ, Kafka and the Kubernetes API up once per run (test/env).
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
