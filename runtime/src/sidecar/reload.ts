/**
 * Live reload: a new configuration applied to running bindings. Unchanged bindings are left
 * alone; a binding whose binder (or any setting) changed moves: an output's sends wait while
 * its new producer is created; a group input switches binder by consuming from the new one
 * first and draining the old one (docs/adr/0014-binder-switch-drains-the-old-binder.md); any
 * other input stops, settling what it holds, and starts anew.
 */
import { within } from '../../../time/clock.ts';
import type { BindingConfig, RuntimeConfig } from '../config/model.ts';
import { safeError } from '../redact.ts';
import type { Bindings, Handle, InputHandle, OutputHandle } from './bindings.ts';
import type { SidecarContext } from './context.ts';

export class Reloader {
  constructor(
    private readonly ctx: SidecarContext,
    private readonly bindings: Bindings,
    /** Makes `next` the sidecar's configuration (slots look binders up there). */
    private readonly adopt: (next: RuntimeConfig) => void,
  ) {}

  async apply(previous: RuntimeConfig, next: RuntimeConfig): Promise<void> {
    const { logger, slots } = this.ctx;
    for (const warning of next.warnings.filter((w) => !previous.warnings.includes(w))) logger.warn({ warning }, 'configuration: %s', warning);
    if (next.http.port !== previous.http.port || next.http.opsPort !== previous.http.opsPort || next.http.host !== previous.http.host) {
      logger.warn('configuration: http ports changed; they apply at the next start');
    }
    // Binders whose settings changed are replaced; bindings on them move.
    const changedBinders = new Set(
      Object.keys(previous.binders).filter((name) => !sameJson(previous.binders[name], next.binders[name])),
    );
    const oldSlots = slots.all();
    this.adopt(next);
    for (const name of changedBinders) slots.forget(name);

    // Inputs first: on a new binder, a group's queue must exist before the first message is
    // sent there. Then outputs move. Then old consumers drain and retire.
    const retirements: Array<() => Promise<void>> = [];
    const outputs: Array<() => Promise<void>> = [];
    const removals: Handle[] = [];
    const inputs: Promise<void>[] = [];
    for (const handle of this.bindings.all()) {
      const binding = next.bindings[handle.binding.name];
      if (!binding) {
        removals.push(handle);
        continue;
      }
      const appChanged = handle.direction === 'input' && !sameJson(previous.app, next.app);
      if (sameJson(handle.binding, binding) && !changedBinders.has(binding.binder) && !appChanged) continue;
      if (handle.direction === 'output') outputs.push(() => this.moveOutput(handle, binding));
      else if (binding.group !== undefined && !appChanged && sameJson({ ...handle.binding, binder: '' }, { ...binding, binder: '' })) {
        inputs.push(this.switchInput(handle, binding).then((retire) => void retirements.push(retire)));
      } else inputs.push(this.restartInput(handle, binding));
    }
    const added = Object.values(next.bindings).filter((binding) => !this.bindings.has(binding.name));
    inputs.push(...added.filter((b) => b.direction === 'input').map((binding) => this.bindings.open(binding)));
    // A new binder that cannot be reached must not hold the reload (nor the ones after it):
    // its bindings keep trying in the background, sends answer 503 meanwhile.
    await within(this.ctx.clock, Promise.all(inputs), this.ctx.drainMaxMs);
    await Promise.all([...outputs.map((move) => move()), ...added.filter((b) => b.direction === 'output').map((binding) => this.bindings.open(binding))]);
    await Promise.all([...retirements.map((retire) => retire()), ...removals.map((handle) => this.bindings.remove(handle))]);
    // Binders no binding uses any more are closed.
    const used = new Set(this.bindings.all().map((handle) => handle.slot));
    for (const slot of new Set([...oldSlots, ...slots.all()])) {
      if (!used.has(slot)) await slots.close(slot);
    }
    logger.info({ bindings: Object.keys(next.bindings) }, 'configuration reloaded');
  }

  private async moveOutput(handle: OutputHandle, binding: BindingConfig): Promise<void> {
    const oldProducer = handle.producer;
    const oldBinding = handle.binding;
    handle.producer = undefined;
    handle.slot = await this.ctx.slots.slotFor(binding.binder);
    handle.binding = binding;
    if (oldBinding.binder !== binding.binder || oldBinding.destination !== binding.destination) this.ctx.metrics.forget(oldBinding);
    this.bindings.startOutput(handle);
    await within(this.ctx.clock, handle.ready.catch(() => undefined), this.ctx.drainMaxMs);
    // Sends already on the old producer finish there before it closes.
    await Promise.allSettled([...handle.inflight]);
    await oldProducer?.close().catch(() => undefined);
    this.ctx.metrics.binderState(binding, handle.slot.binder.state === 'up');
    this.ctx.logger.info({ binding: binding.name, from: oldBinding.binder, to: binding.binder }, 'output binding moved');
  }

  /**
   * A group input moving to another binder: it consumes from the new binder first (its
   * queue then exists there before any output sends to it), and keeps the old consumer until
   * that has gone quiet and settled what it delivered. Returns the old consumer's retirement.
   */
  private async switchInput(handle: InputHandle, binding: BindingConfig): Promise<() => Promise<void>> {
    const { logger, drainQuietMs, drainMaxMs } = this.ctx;
    const old = { consumer: handle.consumer, tracker: handle.tracker, binding: handle.binding };
    await this.bindings.queue(handle, async () => {
      handle.consumer = undefined;
      handle.tracker = undefined;
      await this.bindings.rebindInput(handle, binding);
      await this.bindings.attachInput(handle);
    });
    logger.info({ binding: binding.name, from: old.binding.binder, to: binding.binder }, 'input binding moved; draining the old binder');
    return async () => {
      if (!old.consumer) return;
      await old.tracker?.quiet(drainQuietMs, drainMaxMs);
      await old.consumer.pause().catch(() => undefined);
      await old.tracker?.settled(drainMaxMs);
      await old.consumer.close().catch((error) => logger.warn({ binding: binding.name, err: safeError(error) }, 'closing the old consumer failed'));
      logger.info({ binding: binding.name, binder: old.binding.binder }, 'old binder drained');
    };
  }

  /** Any other change of an input: it stops (settling what it holds), then starts anew. */
  private async restartInput(handle: InputHandle, binding: BindingConfig): Promise<void> {
    const from = handle.binding.binder;
    await this.bindings.queue(handle, async () => {
      await this.bindings.detachInput(handle);
      await this.bindings.rebindInput(handle, binding);
    });
    await this.bindings.queue(handle, () => this.bindings.attachInput(handle));
    this.ctx.logger.info({ binding: binding.name, from, to: binding.binder }, 'input binding restarted');
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
