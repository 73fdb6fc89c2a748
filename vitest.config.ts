import { defineConfig } from 'vitest/config';

/**
 * Files that stop, kill or freeze a shared broker, raise its memory alarm, hold the machine's
 * one kubelet node, or measure times and memory that a neighbour's load would distort: they
 * run one at a time, after the others (docs/adr/0045-integration-files-in-two-groups.md).
 */
const ALONE = [
  'test/integration/hostile/**/*.test.ts',
  'test/integration/**/recovery.test.ts',
  'test/integration/kafka/idempotence.test.ts',
  'test/integration/smoke/**/*.test.ts',
  'test/integration/operator/leader.test.ts',
  'test/integration/monitoring/**/*.test.ts',
  'test/e2e/**/*.test.ts',
];

/**
 * Three projects (docs/architecture.md): `unit` runs pure modules against fakes and starts
 * nothing (`npm run test:unit`); `integration` and `integration-alone` run against the real
 * RabbitMQ, Kafka and Kubernetes API that their global setup brings up once (test/env).
 * Integration files use destinations, groups and namespaces of their own, so two run at a
 * time, most of their time being spent waiting on brokers; then the files that disturb what
 * others share run one after another.
 */
export default defineConfig({
  test: {
    // Two files at a time: the machines this runs on have two cores.
    maxWorkers: 2,
    minWorkers: 1,
    teardownTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ALONE,
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'integration-alone',
          include: ALONE,
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
