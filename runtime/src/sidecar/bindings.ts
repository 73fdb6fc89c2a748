/**
 * The sidecar's bindings: a handle per binding, holding its producer (outputs) or consumer
 * (inputs) on the binder it uses now. Handles attach in the background (a broker that is not
 * up yet must not hold the API), detach by settling what they hold, and move through the
 * states of SPEC section 5 (started, paused, stopped). Work on one input is serialised, so
 * attach, detach and state changes never interleave.
 */
import { sleep } from '../../../time/clock.ts';
import { retry } from '../../../time/retry.ts';
import type { BinderState, Consumer, Delivery, DeliveryHandler, Producer } from '../binders/binder.ts';
import { BinderUnavailableError, TopologyRefusedError } from '../binders/binder.ts';
import type { BinderConfig, BindingConfig } from '../config/model.ts';
import { ListenerHub } from '../delivery/listeners.ts';
import { PushDispatcher, httpTransport, waitForApp } from '../delivery/push.ts';
import { BatchPushDispatcher, httpBatchTransport } from '../delivery/push-batch.ts';
import { tracePush } from '../tracing/messaging.ts';
import { undeliverable, type DeliveryOutcome } from '../delivery/settle.ts';
import { DeliveryTracker } from '../delivery/tracker.ts';
import { safeError } from '../redact.ts';
import type { BinderSlot } from './binder-slots.ts';
import type { SidecarContext } from './context.ts';
import { InvalidStateError, UnknownBindingError } from './errors.ts';

export type BindingState = 'started' | 'stopped' | 'paused';
export type StateRequest = 'started' | 'stopped' | 'paused' | 'resumed';

export interface BindingView {
  name: string;
  direction: BindingConfig['direction'];
  binder: string;
  binderType: BinderConfig['type'];
  binderState: BinderState;
  destination: string;
  group: string | null;
  state: BindingState;
  /** Inputs: `push` to the app, or `pull` over SSE. */
  delivery?: 'push' | 'pull';
  listeners?: number;
  /** Inputs: whether a consumer is attached to the binder right now. */
  consuming?: boolean;
  /** Why the binding does not work although its binder is up: the broker refused its topology. */
  error?: string;
}

export interface OutputHandle {
  direction: 'output';
  binding: BindingConfig;
  slot: BinderSlot;
  state: BindingState;
  producer?: Producer;
  /** Resolves when `producer` is usable; replaced while the binding moves. */
  ready: Promise<void>;
  inflight: Set<Promise<unknown>>;
  /** The broker refused the binding's topology (TopologyRefusedError): not retried until started again. */
  refused?: string;
}

export interface InputHandle {
  direction: 'input';
  binding: BindingConfig;
  slot: BinderSlot;
  state: BindingState;
  consumer?: Consumer;
  tracker?: DeliveryTracker;
  push?: { dispatcher: { handle: DeliveryHandler; stop(): Promise<void> }; close: () => Promise<void> };
  hub: ListenerHub;
  /** Serialises attach/detach/state changes of this binding. */
  busy: Promise<void>;
  /** The broker refused the binding's topology (TopologyRefusedError): not retried until started again. */
  refused?: string;
}

export type Handle = OutputHandle | InputHandle;

export class Bindings {
  private readonly handles = new Map<string, Handle>();

  constructor(private readonly ctx: SidecarContext) {}

  lookup(name: string): Handle {
    const handle = this.handles.get(name);
    if (!handle) throw new UnknownBindingError(name);
    return handle;
  }

  get(name: string): Handle | undefined {
    return this.handles.get(name);
  }

  has(name: string): boolean {
    return this.handles.has(name);
  }

  all(): Handle[] {
    return [...this.handles.values()];
  }

  /** Creates the binding's handle; its producer or consumer attaches in the background. */
  async open(binding: BindingConfig): Promise<void> {
    const { metrics } = this.ctx;
    const slot = await this.ctx.slots.slotFor(binding.binder);
    if (binding.direction === 'output') {
      const handle: OutputHandle = { direction: 'output', binding, slot, state: 'started', ready: Promise.resolve(), inflight: new Set() };
      this.handles.set(binding.name, handle);
      metrics.binderState(binding, slot.binder.state === 'up');
      this.startOutput(handle);
      return;
    }
    const hub = new ListenerHub(binding, this.ctx.clock, this.observer(() => handle.binding), this.ctx.logger);
    const handle: InputHandle = { direction: 'input', binding, slot, state: 'started', hub, busy: Promise.resolve() };
    hub.onListenerCount((count) => this.listenersChanged(handle, count));
    this.handles.set(binding.name, handle);
    metrics.binderState(binding, slot.binder.state === 'up');
    // Inputs attach in the background: a broker that is not up yet must not hold the API.
    void this.queue(handle, () => this.attachInput(handle));
  }

  /** (Re)creates the output's producer on its current slot; `ready` tells when it is usable. */
  startOutput(handle: OutputHandle): void {
    handle.ready = this.attachOutput(handle);
    handle.ready.catch(() => undefined);
  }

  private async attachOutput(handle: OutputHandle): Promise<void> {
    const { slot, binding } = handle;
    handle.refused = undefined;
    try {
      handle.producer = await this.onConnected(slot, () => slot.binder.createProducer(binding), 'cannot create the producer yet', binding);
    } catch (error) {
      if (error instanceof TopologyRefusedError) this.refuse(handle, error.message);
      throw error;
    }
  }

  async attachInput(handle: InputHandle): Promise<void> {
    if (handle.state === 'stopped' || handle.consumer || this.ctx.isClosed()) return;
    const { slot, binding } = handle;
    const app = this.ctx.config().app;
    if (app && !handle.push) {
      const observe = this.observer(() => handle.binding);
      if (binding.consumer.batchSize > 1) {
        const { transport, close } = httpBatchTransport(binding, app);
        handle.push = { dispatcher: new BatchPushDispatcher(binding, transport, this.ctx.clock, observe, this.ctx.logger), close };
      } else {
        const { transport, close } = httpTransport(binding, app);
        const traced = tracePush(this.ctx.tracer, binding, slot.config.type, transport);
        handle.push = { dispatcher: new PushDispatcher(binding, traced, this.ctx.clock, observe, this.ctx.logger), close };
      }
    }
    const target = handle.push ? handle.push.dispatcher.handle : handle.hub.handle;
    // Pushes wait for the app to listen: in a pod the sidecar starts first, and pushes the app
    // refused while it boots would use up their attempts (docs/adr/0024-push-inputs-wait-for-the-app.md).
    let appListening = app && waitForApp(app, this.ctx.clock, () => this.ctx.isClosed() || handle.state === 'stopped',
      () => this.ctx.logger.info({ binding: binding.name, port: app.port }, 'waiting for the app to listen before pushing'));
    // Once the app listens, deliveries go straight on instead of through a promise each.
    if (appListening) void appListening.then((listening) => { if (listening) appListening = undefined; });
    const tracker = new DeliveryTracker(this.ctx.clock);
    const handler = tracker.wrap((delivery: Delivery): void => {
      this.ctx.metrics.messageReceived(handle.binding);
      const deliver = (): void => {
        try {
          target(delivery);
        } catch (error) {
          // Whatever went wrong would go wrong again on redelivery: the message must not hold its binding.
          undeliverable(delivery, handle.binding.consumer, error, this.observer(() => handle.binding), this.ctx.logger, handle.binding.name).catch(() => undefined);
        }
      };
      if (!appListening) return deliver();
      void appListening.then((listening) => (listening ? deliver() : delivery.requeue().catch(() => undefined)));
    });
    handle.refused = undefined;
    try {
      // Batches are pushed only: SSE listeners get messages one by one, `concurrency` at a time.
      const consumed = handle.push ? binding : { ...binding, consumer: { ...binding.consumer, batchSize: 1 } };
      handle.consumer = await this.onConnected(slot, () => slot.binder.createConsumer(consumed, handler), 'cannot create the consumer yet', binding);
      handle.tracker = tracker;
    } catch (error) {
      if (error instanceof TopologyRefusedError) this.refuse(handle, error.message);
      return; // refused, or the binder closed (before it ever connected, or while this retried)
    }
    const pullWithoutListeners = !handle.push && handle.hub.listenerCount === 0;
    if (handle.state === 'paused' || pullWithoutListeners) await handle.consumer.pause();
    this.ctx.logger.info(
      { binding: binding.name, binder: binding.binder, destination: binding.destination, group: binding.group, delivery: handle.push ? 'push' : 'pull' },
      'input binding consuming',
    );
  }

  /** Stops consuming: in-flight deliveries finish, the rest goes back to the broker. */
  async detachInput(handle: InputHandle): Promise<void> {
    const consumer = handle.consumer;
    handle.consumer = undefined;
    handle.tracker = undefined;
    await consumer?.pause().catch(() => undefined);
    if (handle.push) {
      await handle.push.dispatcher.stop();
      await handle.push.close().catch(() => undefined);
      handle.push = undefined;
    }
    await handle.hub.stop();
    await consumer?.close().catch((error) => this.ctx.logger.warn({ binding: handle.binding.name, err: safeError(error) }, 'closing the consumer failed'));
  }

  /**
   * Runs `create` once the slot's binder connected, retrying a refusal with the sidecar's
   * policy until the slot closes. Rejects when the binder closes before it ever connected.
   */
  private async onConnected<T>(slot: BinderSlot, create: () => Promise<T>, retrying: string, binding: BindingConfig): Promise<T> {
    let closed: unknown;
    return retry(
      this.ctx.retry,
      async () => {
        await slot.connected.catch((error: unknown) => {
          closed = error;
          throw error;
        });
        return create();
      },
      {
        clock: this.ctx.clock,
        signal: AbortSignal.any([slot.stop.signal, this.ctx.closing]),
        // A refused topology stays refused until one side changes: retrying would only repeat it.
        retryable: (error) => error !== closed && !(error instanceof TopologyRefusedError),
        onRetry: (error, _attempt, delay) => this.ctx.logger.warn({ binding: binding.name, err: safeError(error), retryInMs: delay }, retrying),
      },
    );
  }

  /** Points an input at another binding config (and binder); its consumer is attached by the caller. */
  async rebindInput(handle: InputHandle, binding: BindingConfig): Promise<void> {
    const oldBinding = handle.binding;
    handle.slot = await this.ctx.slots.slotFor(binding.binder);
    handle.binding = binding;
    handle.hub.rebind(binding);
    if (oldBinding.binder !== binding.binder || oldBinding.destination !== binding.destination) this.ctx.metrics.forget(oldBinding);
    this.ctx.metrics.binderState(binding, handle.slot.binder.state === 'up');
  }

  /** Runs `work` after the input's earlier work; its failure is the caller's, and later work still runs. */
  serial(handle: InputHandle, work: () => Promise<void>): Promise<void> {
    const run = handle.busy.then(work);
    handle.busy = run.catch(() => undefined);
    return run;
  }

  /** `serial` for work whose failure nobody answers for: it is logged, and the promise never rejects. */
  queue(handle: InputHandle, work: () => Promise<void>): Promise<void> {
    return this.serial(handle, work).catch((error: unknown) => {
      this.ctx.logger.error({ binding: handle.binding.name, err: safeError(error) }, 'binding operation failed');
    });
  }

  /** The output's producer, waiting (bounded) while the binding connects or moves to another binder. */
  async producerFor(handle: OutputHandle): Promise<Producer> {
    // The common case costs nothing: `producer` is set only while it is usable (a move
    // clears it before it starts), so the bounded wait below is for connects and moves only.
    if (handle.producer) return handle.producer;
    if (handle.refused !== undefined) throw new BinderUnavailableError(handle.refused);
    const { clock } = this.ctx;
    const deadline = clock.now() + this.ctx.sendWaitMs;
    for (;;) {
      const ready = handle.ready;
      const remaining = deadline - clock.now();
      const timeout = new AbortController();
      const outcome = await Promise.race([
        ready.then(() => 'ready' as const, () => 'failed' as const),
        sleep(clock, Math.max(0, remaining), timeout.signal).then(() => 'timeout' as const),
      ]);
      timeout.abort();
      // The binding may have started moving again while this send waited.
      if (outcome === 'ready' && handle.ready === ready && handle.producer) return handle.producer;
      if (outcome !== 'ready' || clock.now() >= deadline) {
        throw new BinderUnavailableError(handle.refused ?? `binding ${handle.binding.name} is not connected to binder ${handle.binding.binder} yet`);
      }
    }
  }

  /** The state machine of SPEC section 5: outputs stop and start; inputs also pause and resume. */
  async setState(handle: Handle, request: StateRequest): Promise<void> {
    const name = handle.binding.name;
    if (handle.direction === 'output') {
      if (request === 'paused' || request === 'resumed') {
        throw new InvalidStateError(`binding "${name}" is an output binding: it can be stopped or started, not ${request}`);
      }
      handle.state = request;
      // Starting a refused output declares its topology again (someone may have fixed it).
      if (request === 'started' && handle.refused !== undefined) this.startOutput(handle);
      return;
    }
    await this.serial(handle, async () => {
      if (request === 'stopped') {
        handle.state = 'stopped';
        await this.detachInput(handle);
      } else if (request === 'started') {
        const wasPaused = handle.state === 'paused';
        handle.state = 'started';
        if (wasPaused && !handle.push && handle.hub.listenerCount === 0) return;
        if (wasPaused) await handle.consumer?.resume();
      } else if (request === 'paused') {
        if (handle.state === 'stopped') throw new InvalidStateError(`binding "${name}" is stopped: start it before pausing it`);
        handle.state = 'paused';
        await handle.consumer?.pause();
      } else {
        if (handle.state === 'stopped') throw new InvalidStateError(`binding "${name}" is stopped: start it, not resume it`);
        handle.state = 'started';
        if (handle.push || handle.hub.listenerCount > 0) await handle.consumer?.resume();
      }
    });
    // Attaching waits for the binder; the answer does not (`consuming` tells when it is done).
    if (request === 'started') void this.queue(handle, () => this.attachInput(handle));
  }

  view(handle: Handle): BindingView {
    const { binding, slot } = handle;
    return {
      name: binding.name,
      direction: binding.direction,
      binder: binding.binder,
      binderType: slot.config.type,
      binderState: slot.binder.state,
      destination: binding.destination,
      group: binding.group ?? null,
      state: handle.state,
      ...(handle.direction === 'input' && {
        delivery: handle.push || this.ctx.config().app ? 'push' : 'pull',
        listeners: handle.hub.listenerCount,
        consuming: handle.consumer !== undefined,
      }),
      ...(handle.refused !== undefined && { error: handle.refused }),
    };
  }

  /** Bindings whose topology the broker refused, with why. */
  refusals(): Record<string, string> {
    const refused: Record<string, string> = {};
    for (const handle of this.handles.values()) if (handle.refused !== undefined) refused[handle.binding.name] = handle.refused;
    return refused;
  }

  /** An input that ran before found its topology refused when it started again (or, `undefined`, accepted again). */
  topologyRefused(name: string, reason: string | undefined): void {
    const handle = this.handles.get(name);
    if (handle === undefined) return;
    if (reason === undefined) handle.refused = undefined;
    else this.refuse(handle, reason);
  }

  private refuse(handle: Handle, reason: string): void {
    handle.refused = reason;
    this.ctx.logger.error({ binding: handle.binding.name, binder: handle.binding.binder, err: reason },
      'the broker refused the binding\'s topology; not retrying until the binding is started again or its configuration changes');
  }

  /** The binding leaves the configuration: what it holds is settled, then it is forgotten. */
  async remove(handle: Handle): Promise<void> {
    this.handles.delete(handle.binding.name);
    this.ctx.metrics.forget(handle.binding);
    if (handle.direction === 'output') {
      const producer = handle.producer;
      handle.producer = undefined;
      await Promise.allSettled([...handle.inflight]);
      await producer?.close().catch(() => undefined);
    } else {
      handle.state = 'stopped';
      await this.queue(handle, () => this.detachInput(handle));
    }
  }

  /** Shutdown's graceful part: outputs finish their sends, inputs give back what they hold. */
  async drainAll(): Promise<void> {
    await Promise.all(
      this.all().map(async (handle) => {
        if (handle.direction === 'output') {
          await Promise.allSettled([...handle.inflight]);
          await handle.producer?.close().catch(() => undefined);
        } else {
          await this.queue(handle, () => this.detachInput(handle));
        }
      }),
    );
  }

  /** Updates `binder_up` of every binding on `slot`. */
  binderStateChanged(slot: BinderSlot, state: BinderState): void {
    for (const handle of this.handles.values()) {
      if (handle.slot === slot) this.ctx.metrics.binderState(handle.binding, state === 'up');
    }
  }

  private listenersChanged(handle: InputHandle, count: number): void {
    if (handle.push) return;
    void this.queue(handle, async () => {
      if (!handle.consumer || handle.state !== 'started') return;
      if (count === 0) await handle.consumer.pause();
      else await handle.consumer.resume();
    });
  }

  private observer(binding: () => BindingConfig) {
    return (outcome: DeliveryOutcome, seconds: number): void => this.ctx.metrics.delivery(binding(), outcome, seconds);
  }
}
