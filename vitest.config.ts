import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Brings RabbitMQ, Kafka and the Kubernetes API up once per run (test/env).
    globalSetup: ['test/env/global-setup.ts'],
    // Test files share one broker and one API server, and some of them stop and restart
    // a broker on purpose, so files run one after another; tests inside a file may still
    // run concurrently where they use their own destinations.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
