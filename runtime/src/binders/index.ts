/**
 * Creates the adapter for a binder's type. The broker adapters are imported only when a
 * binder of their type is configured, so a memory-only runtime (the demo, local runs) loads
 * neither amqplib nor kafkajs.
 */
import type { BinderConfig } from '../config/model.ts';
import type { Binder, BinderDeps } from './binder.ts';
import { createMemoryBinder } from './memory/index.ts';

type BinderFactory = (config: BinderConfig, deps: BinderDeps) => Binder;

// Literal import()s, so that a bundler (docs/adr/0053) sees the adapters as well as Node does.
const adapters: Record<Exclude<BinderConfig['type'], 'memory'>, () => Promise<BinderFactory>> = {
  rabbit: async () => (await import('./rabbit/index.ts')).createRabbitBinder,
  kafka: async () => (await import('./kafka/index.ts')).createKafkaBinder,
};

export async function createBinder(config: BinderConfig, deps: BinderDeps): Promise<Binder> {
  if (config.type === 'memory') return createMemoryBinder(config, deps);
  const factory = await adapters[config.type]();
  return factory(config, deps);
}
