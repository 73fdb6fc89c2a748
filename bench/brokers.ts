/**
 * The brokers a bench can run against, by name: each module builds a `BrokerBench` (the
 * broker's own client, used as a careful application would) for the test environment's broker.
 * Shared by run.ts and the bare proxy's child process (bare-proxy.ts).
 */
import type { BrokerBench } from './harness.ts';

export const brokers: Record<string, () => Promise<BrokerBench>> = {
  rabbit: async () => (await import('./rabbit/index.ts')).createRabbitBench(),
  kafka: async () => (await import('./kafka/index.ts')).createKafkaBench(),
};
