/**
 * The sidecar's binders: one slot per configured binder in use, created on first use and
 * connected in the background. The first connection is retried with the sidecar's retry
 * policy; afterwards reconnecting is the adapter's job. Shared binders (the demo's one memory
 * broker) are used but never closed.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../../time/clock.ts';
import { retry, type RetryPolicy } from '../../../time/retry.ts';
import { BinderUnavailableError, type Binder, type BinderState } from '../binders/binder.ts';
import { createBinder } from '../binders/index.ts';
import type { BinderConfig } from '../config/model.ts';
import { safeError } from '../redact.ts';

export interface BinderSlot {
  config: BinderConfig;
  binder: Binder;
  owned: boolean;
  /** Settles once the first connection succeeded; rejects if the slot closed before. */
  connected: Promise<void>;
  stop: AbortController;
}

export interface BinderSlotsDeps {
  /** The configured binders, as of now (a reload changes them). */
  configured(): Record<string, BinderConfig>;
  sharedBinders: Record<string, Binder>;
  logger: Logger;
  clock: Clock;
  retry: RetryPolicy;
  onConsumerLag(binder: Binder, binding: string, partition: number, lag: number): void;
  onTopologyRefused(binder: Binder, binding: string, reason: string | undefined): void;
  onStateChange(slot: BinderSlot, state: BinderState): void;
}

export class BinderSlots {
  private readonly slots = new Map<string, BinderSlot>();

  constructor(private readonly deps: BinderSlotsDeps) {}

  /** The slot of binder `name`, created (and connecting) on first use. */
  async slotFor(name: string): Promise<BinderSlot> {
    const existing = this.slots.get(name);
    if (existing) return existing;
    const config = this.deps.configured()[name];
    if (!config) throw new Error(`binder ${name} is not configured`);
    const shared = this.deps.sharedBinders[name];
    const binder =
      shared ??
      (await createBinder(config, {
        logger: this.deps.logger.child({ binder: name }),
        onConsumerLag: (binding, partition, lag) => this.deps.onConsumerLag(binder, binding, partition, lag),
        onTopologyRefused: (binding, reason) => this.deps.onTopologyRefused(binder, binding, reason),
      }));
    // Another caller may have created the slot while the adapter was loading.
    const raced = this.slots.get(name);
    if (raced) {
      if (!shared) await binder.close();
      return raced;
    }
    const slot: BinderSlot = { config, binder, owned: !shared, connected: Promise.resolve(), stop: new AbortController() };
    slot.connected = this.connect(slot);
    binder.onStateChange((state) => this.deps.onStateChange(slot, state));
    this.slots.set(name, slot);
    return slot;
  }

  /** First connection, retried with back-off; afterwards reconnecting is the adapter's job. */
  private async connect(slot: BinderSlot): Promise<void> {
    const { logger } = this.deps;
    try {
      await retry(this.deps.retry, () => slot.binder.connect(), {
        clock: this.deps.clock,
        signal: slot.stop.signal,
        onRetry: (error, attempt, delay) =>
          logger.warn({ binder: slot.config.name, attempt, retryInMs: delay, err: safeError(error) }, 'binder cannot connect yet'),
      });
    } catch {
      throw new BinderUnavailableError(`binder ${slot.config.name} closed`);
    }
    logger.info({ binder: slot.config.name, type: slot.config.type, brokerVersion: slot.binder.brokerVersion }, 'binder connected');
    this.deps.onStateChange(slot, slot.binder.state);
  }

  /** Bindings look their binder up afresh: the next `slotFor` creates a new slot. */
  forget(name: string): void {
    this.slots.delete(name);
  }

  all(): BinderSlot[] {
    return [...this.slots.values()];
  }

  async close(slot: BinderSlot): Promise<void> {
    this.slots.delete(slot.config.name);
    slot.stop.abort();
    if (slot.owned) await slot.binder.close().catch((error) => this.deps.logger.warn({ err: safeError(error) }, 'closing binder failed'));
  }

  /** Binders still trying their first connection stop trying: nothing waits for them now. */
  stopConnecting(): void {
    for (const slot of this.slots.values()) if (slot.binder.state !== 'up') slot.stop.abort();
  }

  async closeAll(): Promise<void> {
    for (const slot of this.all()) await this.close(slot);
  }

  /** Each binder in use and its state. */
  states(): Record<string, BinderState> {
    const binders: Record<string, BinderState> = {};
    for (const slot of this.slots.values()) binders[slot.config.name] = slot.binder.state;
    return binders;
  }
}
