/**
 * Creates the adapter for a binder's type. The broker adapters are imported only when a
 * binder of their type is configured, so a memory-only runtime (the demo, local runs) loads
 * neither amqplib nor kafkajs.
 */
import type { BinderConfig } from '../config/model.ts';
import type { Binder, BinderDeps } from './binder.ts';
import { createMemoryBinder } from './memory/index.ts';

type BinderFactory = (config: BinderConfig, deps: BinderDeps) => Binder;

const adapters: Record<Exclude<BinderConfig['type'], 'memory'>, { module: string; factory: string }> = {
  rabbit: { module: './rabbit/index.ts', factory: 'createRabbitBinder' },
  kafka: { module: './kafka/index.ts', factory: 'createKafkaBinder' },
};

export async function createBinder(config: BinderConfig, deps: BinderDeps): Promise<Binder> {
  if (config.type === 'memory') return createMemoryBinder(config, deps);
  const adapter = adapters[config.type];
  const loaded = (await import(adapter.module)) as Record<string, BinderFactory | undefined>;
  const factory = loaded[adapter.factory];
  if (typeof factory !== 'function') throw new Error(`binder type ${config.type} is not available in this build`);
  return factory(config, deps);
}
