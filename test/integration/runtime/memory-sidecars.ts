/**
 * Sidecars on the memory binder for the API suites, stopped after each test: an output `out`,
 * a pull input `in` and small, keyed and text outputs on one destination.
 */
import { afterEach } from 'vitest';
import type { Binder } from '../../../runtime/src/binders/binder.ts';
import { createMemoryBinder, type MemoryBinder } from '../../../runtime/src/binders/memory/index.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { sidecarFrom, silent, unique } from './support.ts';

/** Registers the after-each cleanup; call once at the top of a test file. */
export function memorySidecars() {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function memory(): Promise<MemoryBinder> {
    const binder = createMemoryBinder({ name: 'mem', type: 'memory' }, { logger: silent });
    await binder.connect();
    cleanups.push(() => binder.close());
    return binder;
  }

  async function sidecar(yaml: string, shared: Record<string, Binder>): Promise<RunningSidecar> {
    const running = await sidecarFrom(yaml, { sharedBinders: shared, sendWaitMs: 500 });
    cleanups.push(() => running.close());
    return running;
  }

  /** An output `out`, a pull input `in` and a small output `small` on one destination. */
  async function pullSidecar(destination = unique('orders'), consumer = '{ maxAttempts: 2, ackTimeout: 300 }') {
    const mem = await memory();
    const running = await sidecar(
      `binders: { mem: { type: memory } }
bindings:
  out: { direction: output, destination: ${destination} }
  in: { direction: input, destination: ${destination}, group: g, consumer: ${consumer} }
  small: { direction: output, destination: ${destination}, maxMessageBytes: 16 }
  keyed: { direction: output, destination: ${destination}, producer: { partitionCount: 3 } }
  text: { direction: output, destination: ${destination}, contentType: text/plain }`,
      { mem },
    );
    return { mem, running, destination };
  }

  return { cleanups, memory, sidecar, pullSidecar };
}
