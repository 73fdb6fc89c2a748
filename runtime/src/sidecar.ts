/**
 * The sidecar's core, below HTTP: it owns the binders, a producer per output binding and a
 * consumer per input binding, routes deliveries to push or SSE, and moves bindings between
 * binders when the configuration changes. The fastify apps (app.ts) are thin over it.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  BinderUnavailableError,
  ConfirmTimeoutError,
  type Binder,
  type BinderState,
  type Consumer,
  type Delivery,
  type Producer,
} from './binders/binder.ts';
import { createBinder } from './binders/index.ts';
import type { BinderConfig, BindingConfig, RuntimeConfig } from './config/model.ts';
import { redactUrl } from './config/model.ts';
import { sleep, systemClock, type Clock } from './delivery/clock.ts';
import { ListenerHub, isJsonContentType, type Listener } from './delivery/listeners.ts';
import { PushDispatcher, httpTransport, waitForApp } from './delivery/push.ts';
import { DeliveryTracker } from './delivery/tracker.ts';
import type { DeliveryOutcome } from './delivery/settle.ts';
import {
  BinderUnavailableHttpError,
  BindingStoppedError,
  ConfirmTimeoutHttpError,
  InvalidPayloadError,
  InvalidStateError,
  PayloadTooLargeError,
  UnknownBindingError,
  UnknownDeliveryError,
  WrongDirectionError,
} from './errors.ts';
import { Metrics } from './metrics.ts';
import { partitionFor } from './partition/index.ts';

export interface SidecarOptions {
  config: RuntimeConfig;
  logger: Logger;
  clock?: Clock;
  /**
   * Binders owned by someone else, by name (the demo's one memory broker shared by all its
   * sidecars). The sidecar uses them but never closes them.
   */
  sharedBinders?: Record<string, Binder>;
  metrics?: Metrics;
  /** How long a send may wait for its binding to become ready (first connect, binder switch). */
  sendWaitMs?: number;
  /**
   * A group input moving to another binder keeps consuming from the old one until nothing
   * arrived there for this long (default 1 s), so what was sent before the move is not stranded.
   */
  drainQuietMs?: number;
  /** Upper bound of that drain, and of waiting for its deliveries to settle (default 30 s). */
  drainMaxMs?: number;
}

export type BindingState = 'started' | 'stopped' | 'paused';
export type StateRequest = 'started' | 'stopped' | 'paused' | 'resumed';

export interface SendRequest {
  body: Buffer;
  contentType?: string;
  id?: string;
  key?: string;
  headers: Record<string, string>;
}

export interface SendResult {
  id: string;
  destination: string;
  binder: string;
  partition: number | null;
}

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
}

interface BinderSlot {
  config: BinderConfig;
  binder: Binder;
  owned: boolean;
  connected: Promise<void>;
  stop: AbortController;
}

interface OutputHandle {
  direction: 'output';
  binding: BindingConfig;
  slot: BinderSlot;
  state: BindingState;
  producer?: Producer;
  /** Resolves when `producer` is usable; replaced while the binding moves. */
  ready: Promise<void>;
  inflight: Set<Promise<unknown>>;
}

interface InputHandle {
  direction: 'input';
  binding: BindingConfig;
  slot: BinderSlot;
  state: BindingState;
  consumer?: Consumer;
  tracker?: DeliveryTracker;
  push?: { dispatcher: PushDispatcher; close: () => Promise<void> };
  hub: ListenerHub;
  /** Serialises attach/detach/state changes of this binding. */
  busy: Promise<void>;
}

type Handle = OutputHandle | InputHandle;

const BINDER_RETRY_MAX_MS = 30_000;

export class Sidecar {
  readonly metrics: Metrics;
  private config: RuntimeConfig;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly sharedBinders: Record<string, Binder>;
  private readonly sendWaitMs: number;
  private readonly drainQuietMs: number;
  private readonly drainMaxMs: number;
  private readonly slots = new Map<string, BinderSlot>();
  private readonly handles = new Map<string, Handle>();
  private readonly listenerEnds = new Set<() => void>();
  private reloading: Promise<void> = Promise.resolve();
  private accepting = true;
  private closed = false;

  constructor(options: SidecarOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.sharedBinders = options.sharedBinders ?? {};
    this.metrics = options.metrics ?? new Metrics();
    this.sendWaitMs = options.sendWaitMs ?? 10_000;
    this.drainQuietMs = options.drainQuietMs ?? 1_000;
    this.drainMaxMs = options.drainMaxMs ?? 30_000;
  }

  get runtimeConfig(): RuntimeConfig {
    return this.config;
  }

  /** Creates every binding; binders that cannot connect yet keep retrying in the background. */
  async start(): Promise<void> {
    for (const warning of this.config.warnings) this.logger.warn({ warning }, 'configuration: %s', warning);
    await Promise.all(Object.values(this.config.bindings).map((binding) => this.open(binding)));
  }

  // ---------------------------------------------------------------------------------------
  // Binders

  private async slotFor(name: string): Promise<BinderSlot> {
    const existing = this.slots.get(name);
    if (existing) return existing;
    const config = this.config.binders[name];
    if (!config) throw new Error(`binder ${name} is not configured`);
    const shared = this.sharedBinders[name];
    const binder =
      shared ??
      (await createBinder(config, {
        logger: this.logger.child({ binder: name }),
        onConsumerLag: (binding, partition, lag) => {
          const handle = this.handles.get(binding);
          if (handle && handle.slot.binder === binder) this.metrics.lag(handle.binding, partition, lag);
        },
      }));
    // Another caller may have created the slot while the adapter was loading.
    const raced = this.slots.get(name);
    if (raced) {
      if (!shared) await binder.close();
      return raced;
    }
    const slot: BinderSlot = { config, binder, owned: !shared, connected: Promise.resolve(), stop: new AbortController() };
    slot.connected = this.connect(slot);
    binder.onStateChange((state) => this.binderStateChanged(slot, state));
    this.slots.set(name, slot);
    return slot;
  }

  /** First connection, retried with back-off; afterwards reconnecting is the adapter's job. */
  private async connect(slot: BinderSlot): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await slot.binder.connect();
        this.logger.info({ binder: slot.config.name, type: slot.config.type, brokerVersion: slot.binder.brokerVersion }, 'binder connected');
        this.binderStateChanged(slot, slot.binder.state);
        return;
      } catch (error) {
        const delay = Math.min(500 * 2 ** (attempt - 1), BINDER_RETRY_MAX_MS);
        this.logger.warn({ binder: slot.config.name, attempt, retryInMs: delay, err: safeError(error) }, 'binder cannot connect yet');
        if (!(await sleep(this.clock, delay, slot.stop.signal))) throw new BinderUnavailableError(`binder ${slot.config.name} closed`);
      }
    }
  }

  private binderStateChanged(slot: BinderSlot, state: BinderState): void {
    for (const handle of this.handles.values()) {
      if (handle.slot === slot) this.metrics.binderState(handle.binding, state === 'up');
    }
  }

  private async closeSlot(slot: BinderSlot): Promise<void> {
    this.slots.delete(slot.config.name);
    slot.stop.abort();
    if (slot.owned) await slot.binder.close().catch((error) => this.logger.warn({ err: safeError(error) }, 'closing binder failed'));
  }

  // ---------------------------------------------------------------------------------------
  // Bindings

  private async open(binding: BindingConfig): Promise<void> {
    const slot = await this.slotFor(binding.binder);
    if (binding.direction === 'output') {
      const handle: OutputHandle = { direction: 'output', binding, slot, state: 'started', ready: Promise.resolve(), inflight: new Set() };
      this.handles.set(binding.name, handle);
      this.metrics.binderState(binding, slot.binder.state === 'up');
      handle.ready = this.attachOutput(handle);
      handle.ready.catch(() => undefined);
      return;
    }
    const hub = new ListenerHub(binding, this.clock, this.observer(() => handle.binding));
    const handle: InputHandle = { direction: 'input', binding, slot, state: 'started', hub, busy: Promise.resolve() };
    hub.onListenerCount((count) => this.listenersChanged(handle, count));
    this.handles.set(binding.name, handle);
    this.metrics.binderState(binding, slot.binder.state === 'up');
    // Inputs attach in the background: a broker that is not up yet must not hold the API.
    void this.serial(handle, () => this.attachInput(handle));
  }

  private async attachOutput(handle: OutputHandle): Promise<void> {
    const { slot, binding } = handle;
    for (let attempt = 1; ; attempt++) {
      await slot.connected;
      try {
        handle.producer = await slot.binder.createProducer(binding);
        return;
      } catch (error) {
        const delay = Math.min(500 * 2 ** (attempt - 1), BINDER_RETRY_MAX_MS);
        this.logger.warn({ binding: binding.name, err: safeError(error), retryInMs: delay }, 'cannot create the producer yet');
        if (!(await sleep(this.clock, delay, slot.stop.signal))) throw error;
      }
    }
  }

  private async attachInput(handle: InputHandle): Promise<void> {
    if (handle.state === 'stopped' || handle.consumer || this.closed) return;
    const { slot, binding } = handle;
    const app = this.config.app;
    if (app && !handle.push) {
      const { transport, close } = httpTransport(binding, app);
      handle.push = { dispatcher: new PushDispatcher(binding, transport, this.clock, this.observer(() => handle.binding)), close };
    }
    const target = handle.push ? handle.push.dispatcher.handle : handle.hub.handle;
    // Pushes wait for the app to listen: in a pod the sidecar starts first, and pushes the app
    // refused while it boots would use up their attempts (docs/adr/0022-push-inputs-wait-for-the-app.md).
    const appListening = app && waitForApp(app, this.clock, () => this.closed || handle.state === 'stopped',
      () => this.logger.info({ binding: binding.name, port: app.port }, 'waiting for the app to listen before pushing'));
    const tracker = new DeliveryTracker(this.clock);
    const handler = tracker.wrap((delivery: Delivery): void => {
      this.metrics.messageReceived(handle.binding);
      if (!appListening) return target(delivery);
      void appListening.then((listening) => (listening ? target(delivery) : void delivery.requeue()));
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await slot.connected;
      } catch {
        return; // the binder was closed before it ever connected
      }
      try {
        handle.consumer = await slot.binder.createConsumer(binding, handler);
        handle.tracker = tracker;
        break;
      } catch (error) {
        const delay = Math.min(500 * 2 ** (attempt - 1), BINDER_RETRY_MAX_MS);
        this.logger.warn({ binding: binding.name, err: safeError(error), retryInMs: delay }, 'cannot create the consumer yet');
        if (!(await sleep(this.clock, delay, slot.stop.signal))) return;
      }
    }
    const pullWithoutListeners = !handle.push && handle.hub.listenerCount === 0;
    if (handle.state === 'paused' || pullWithoutListeners) await handle.consumer.pause();
    this.logger.info({ binding: binding.name, binder: binding.binder, destination: binding.destination, group: binding.group, delivery: handle.push ? 'push' : 'pull' }, 'input binding consuming');
  }

  /** Stops consuming: in-flight deliveries finish, the rest goes back to the broker. */
  private async detachInput(handle: InputHandle): Promise<void> {
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
    await consumer?.close().catch((error) => this.logger.warn({ binding: handle.binding.name, err: safeError(error) }, 'closing the consumer failed'));
  }

  private listenersChanged(handle: InputHandle, count: number): void {
    if (handle.push) return;
    void this.serial(handle, async () => {
      if (!handle.consumer || handle.state !== 'started') return;
      if (count === 0) await handle.consumer.pause();
      else await handle.consumer.resume();
    });
  }

  private serial(handle: InputHandle, work: () => Promise<void>): Promise<void> {
    const next = handle.busy.then(work).catch((error) => this.logger.error({ binding: handle.binding.name, err: safeError(error) }, 'binding operation failed'));
    handle.busy = next;
    return next;
  }

  private observer(binding: () => BindingConfig) {
    return (outcome: DeliveryOutcome, seconds: number): void => this.metrics.delivery(binding(), outcome, seconds);
  }

  private lookup(name: string): Handle {
    const handle = this.handles.get(name);
    if (!handle) throw new UnknownBindingError(name);
    return handle;
  }

  // ---------------------------------------------------------------------------------------
  // The API's operations

  async send(name: string, request: SendRequest): Promise<SendResult> {
    const handle = this.lookup(name);
    if (handle.direction !== 'output') throw new WrongDirectionError(name, 'input', 'send');
    if (!this.accepting) throw new BinderUnavailableHttpError('the sidecar is shutting down');
    if (handle.state === 'stopped') throw new BindingStoppedError(name);
    const binding = handle.binding;
    if (request.body.length > binding.maxMessageBytes) throw new PayloadTooLargeError(binding.maxMessageBytes);
    const contentType = request.contentType ?? binding.contentType;
    let payload: unknown = request.body.toString('utf8');
    if (isJsonContentType(contentType)) {
      try {
        payload = JSON.parse(payload as string);
      } catch (error) {
        throw new InvalidPayloadError(contentType, (error as Error).message);
      }
    }
    const partition = partitionFor(binding.producer, { payload, headers: request.headers, ...(request.key !== undefined && { key: request.key }) });
    const producer = await this.producerFor(handle);
    const current = handle.binding;
    if (handle.slot.binder.state !== 'up') throw new BinderUnavailableHttpError(`binder ${current.binder} is ${handle.slot.binder.state}`);
    const id = request.id ?? randomUUID();
    const started = this.clock.now();
    const sending = producer.send({ id, payload: request.body, contentType, headers: request.headers, ...(partition !== undefined && { partition }) });
    handle.inflight.add(sending);
    try {
      const receipt = await sending;
      this.metrics.messageSent(current, (this.clock.now() - started) / 1000);
      return { id, destination: current.destination, binder: current.binder, partition: receipt.partition ?? partition ?? null };
    } catch (error) {
      if (error instanceof ConfirmTimeoutError) throw new ConfirmTimeoutHttpError(`binder ${current.binder} did not confirm the message in time: ${error.message}`);
      if (!(error instanceof BinderUnavailableError)) this.logger.warn({ binding: name, err: safeError(error) }, 'send failed');
      throw new BinderUnavailableHttpError(`binder ${current.binder} could not take the message: ${(error as Error).message}`);
    } finally {
      handle.inflight.delete(sending);
    }
  }

  /** Waits (bounded) while the binding connects or moves to another binder. */
  private async producerFor(handle: OutputHandle): Promise<Producer> {
    // The common case costs nothing: `producer` is set only while it is usable (a move
    // clears it before it starts), so the bounded wait below is for connects and moves only.
    if (handle.producer) return handle.producer;
    const deadline = this.clock.now() + this.sendWaitMs;
    for (;;) {
      const ready = handle.ready;
      const remaining = deadline - this.clock.now();
      const timeout = new AbortController();
      const outcome = await Promise.race([
        ready.then(() => 'ready' as const, () => 'failed' as const),
        sleep(this.clock, Math.max(0, remaining), timeout.signal).then(() => 'timeout' as const),
      ]);
      timeout.abort();
      // The binding may have started moving again while this send waited.
      if (outcome === 'ready' && handle.ready === ready && handle.producer) return handle.producer;
      if (outcome !== 'ready' || this.clock.now() >= deadline) {
        throw new BinderUnavailableHttpError(`binding ${handle.binding.name} is not connected to binder ${handle.binding.binder} yet`);
      }
    }
  }

  /** Opens an SSE listener on an input binding; returns the function that removes it. */
  listen(name: string, listener: Listener & { end(): void }): () => void {
    const handle = this.lookup(name);
    if (handle.direction !== 'input') throw new WrongDirectionError(name, 'output', 'listen');
    if (!this.accepting) throw new BinderUnavailableHttpError('the sidecar is shutting down');
    const remove = handle.hub.add(listener);
    this.listenerEnds.add(listener.end);
    return () => {
      this.listenerEnds.delete(listener.end);
      remove();
    };
  }

  async ack(name: string, id: string): Promise<void> {
    const handle = this.lookup(name);
    if (handle.direction !== 'input') throw new WrongDirectionError(name, 'output', 'ack');
    if (!(await handle.hub.ack(id))) throw new UnknownDeliveryError(name, id);
  }

  async nack(name: string, id: string, options: { requeue: boolean; reason?: string }): Promise<void> {
    const handle = this.lookup(name);
    if (handle.direction !== 'input') throw new WrongDirectionError(name, 'output', 'nack');
    if (!(await handle.hub.nack(id, options.requeue, options.reason))) throw new UnknownDeliveryError(name, id);
  }

  async setState(name: string, request: StateRequest): Promise<BindingView> {
    const handle = this.lookup(name);
    if (handle.direction === 'output') {
      if (request === 'paused' || request === 'resumed') {
        throw new InvalidStateError(`binding "${name}" is an output binding: it can be stopped or started, not ${request}`);
      }
      handle.state = request;
      return this.view(handle);
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
    }).then(() => undefined);
    if (request === 'started') await this.serial(handle, () => this.attachInput(handle));
    return this.view(handle);
  }

  bindings(): BindingView[] {
    return [...this.handles.values()].map((handle) => this.view(handle));
  }

  private view(handle: Handle): BindingView {
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
        delivery: handle.push || this.config.app ? 'push' : 'pull',
        listeners: handle.hub.listenerCount,
        consuming: handle.consumer !== undefined,
      }),
    };
  }

  /** Ready while accepting and every binder in use is connected. */
  readiness(): { ready: boolean; binders: Record<string, BinderState> } {
    const binders: Record<string, BinderState> = {};
    for (const slot of this.slots.values()) binders[slot.config.name] = slot.binder.state;
    const ready = this.accepting && Object.values(binders).every((state) => state === 'up');
    return { ready, binders };
  }

  // ---------------------------------------------------------------------------------------
  // Configuration changes

  /**
   * Applies a new configuration: unchanged bindings are untouched; a binding whose binder
   * (or any setting) changed moves: an output's sends wait while its new producer is
   * created; an input stops taking messages, settles what it holds on the old binder, then
   * consumes from the new one.
   */
  reload(next: RuntimeConfig): Promise<void> {
    const run = this.reloading.then(() => this.applyConfig(next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async applyConfig(next: RuntimeConfig): Promise<void> {
    const previous = this.config;
    for (const warning of next.warnings.filter((w) => !previous.warnings.includes(w))) this.logger.warn({ warning }, 'configuration: %s', warning);
    if (next.http.port !== previous.http.port || next.http.opsPort !== previous.http.opsPort || next.http.host !== previous.http.host) {
      this.logger.warn('configuration: http ports changed; they apply at the next start');
    }
    // Binders whose settings changed are replaced; bindings on them move.
    const changedBinders = new Set(
      Object.keys(previous.binders).filter((name) => !sameJson(previous.binders[name], next.binders[name])),
    );
    const oldSlots = new Map(this.slots);
    this.config = next;
    for (const name of changedBinders) this.slots.delete(name);

    // Inputs first: on a new binder, a group's queue must exist before the first message is
    // sent there. Then outputs move. Then old consumers drain and retire.
    const retirements: Array<() => Promise<void>> = [];
    const outputs: Array<() => Promise<void>> = [];
    const removals: Handle[] = [];
    const inputs: Promise<void>[] = [];
    for (const [name, handle] of this.handles) {
      const binding = next.bindings[name];
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
    const added = Object.values(next.bindings).filter((binding) => !this.handles.has(binding.name));
    inputs.push(...added.filter((b) => b.direction === 'input').map((binding) => this.open(binding)));
    // A new binder that cannot be reached must not hold the reload (nor the ones after it):
    // its bindings keep trying in the background, sends answer 503 meanwhile.
    await this.within(Promise.all(inputs), this.drainMaxMs);
    await Promise.all([...outputs.map((move) => move()), ...added.filter((b) => b.direction === 'output').map((binding) => this.open(binding))]);
    await Promise.all([...retirements.map((retire) => retire()), ...removals.map((handle) => this.remove(handle))]);
    // Binders no binding uses any more are closed.
    const used = new Set([...this.handles.values()].map((handle) => handle.slot));
    for (const slot of new Set([...oldSlots.values(), ...this.slots.values()])) {
      if (!used.has(slot)) await this.closeSlot(slot);
    }
    this.logger.info({ bindings: Object.keys(next.bindings) }, 'configuration reloaded');
  }

  private async moveOutput(handle: OutputHandle, binding: BindingConfig): Promise<void> {
    const oldProducer = handle.producer;
    const oldBinding = handle.binding;
    handle.producer = undefined;
    handle.slot = await this.slotFor(binding.binder);
    handle.binding = binding;
    if (oldBinding.binder !== binding.binder || oldBinding.destination !== binding.destination) this.metrics.forget(oldBinding);
    handle.ready = this.attachOutput(handle);
    handle.ready.catch(() => undefined);
    await this.within(handle.ready.catch(() => undefined), this.drainMaxMs);
    // Sends already on the old producer finish there before it closes.
    await Promise.allSettled([...handle.inflight]);
    await oldProducer?.close().catch(() => undefined);
    this.metrics.binderState(binding, handle.slot.binder.state === 'up');
    this.logger.info({ binding: binding.name, from: oldBinding.binder, to: binding.binder }, 'output binding moved');
  }

  /**
   * A group input moving to another binder: it consumes from the new binder first (its
   * queue then exists there before any output sends to it), and keeps the old consumer until
   * that has gone quiet and settled what it delivered. Returns the old consumer's retirement.
   */
  private async switchInput(handle: InputHandle, binding: BindingConfig): Promise<() => Promise<void>> {
    const old = { consumer: handle.consumer, tracker: handle.tracker, binding: handle.binding };
    await this.serial(handle, async () => {
      handle.consumer = undefined;
      handle.tracker = undefined;
      await this.rebindInput(handle, binding);
      await this.attachInput(handle);
    });
    this.logger.info({ binding: binding.name, from: old.binding.binder, to: binding.binder }, 'input binding moved; draining the old binder');
    return async () => {
      if (!old.consumer) return;
      await old.tracker?.quiet(this.drainQuietMs, this.drainMaxMs);
      await old.consumer.pause().catch(() => undefined);
      await old.tracker?.settled(this.drainMaxMs);
      await old.consumer.close().catch((error) => this.logger.warn({ binding: binding.name, err: safeError(error) }, 'closing the old consumer failed'));
      this.logger.info({ binding: binding.name, binder: old.binding.binder }, 'old binder drained');
    };
  }

  /** Any other change of an input: it stops (settling what it holds), then starts anew. */
  private async restartInput(handle: InputHandle, binding: BindingConfig): Promise<void> {
    const from = handle.binding.binder;
    await this.serial(handle, async () => {
      await this.detachInput(handle);
      await this.rebindInput(handle, binding);
    });
    await this.serial(handle, () => this.attachInput(handle));
    this.logger.info({ binding: binding.name, from, to: binding.binder }, 'input binding restarted');
  }

  private async rebindInput(handle: InputHandle, binding: BindingConfig): Promise<void> {
    const oldBinding = handle.binding;
    handle.slot = await this.slotFor(binding.binder);
    handle.binding = binding;
    handle.hub.rebind(binding);
    if (oldBinding.binder !== binding.binder || oldBinding.destination !== binding.destination) this.metrics.forget(oldBinding);
    this.metrics.binderState(binding, handle.slot.binder.state === 'up');
  }

  private async remove(handle: Handle): Promise<void> {
    this.handles.delete(handle.binding.name);
    this.metrics.forget(handle.binding);
    if (handle.direction === 'output') {
      const producer = handle.producer;
      handle.producer = undefined;
      await Promise.allSettled([...handle.inflight]);
      await producer?.close().catch(() => undefined);
    } else {
      handle.state = 'stopped';
      await this.serial(handle, () => this.detachInput(handle));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Shutdown

  /**
   * Graceful stop (SIGTERM): sends are refused from now on, sends in flight finish, inputs
   * stop consuming and give back what they hold, then everything closes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.accepting = false;
    this.closed = true;
    // Binders still trying their first connection stop trying: nothing waits for them now.
    for (const slot of this.slots.values()) if (slot.binder.state !== 'up') slot.stop.abort();
    const handles = [...this.handles.values()];
    const graceful = Promise.all(
      handles.map(async (handle) => {
        if (handle.direction === 'output') {
          await Promise.allSettled([...handle.inflight]);
          await handle.producer?.close().catch(() => undefined);
        } else {
          await this.serial(handle, () => this.detachInput(handle));
        }
      }),
    );
    // A broker that does not answer must not keep the process from exiting; what is not
    // settled by then goes back to the broker when the binder's connection closes.
    let finished = false;
    await this.within(graceful.then(() => (finished = true)), this.drainMaxMs);
    if (!finished) this.logger.warn({ waitedMs: this.drainMaxMs }, 'shutdown did not finish in time; closing the binders anyway');
    for (const end of this.listenerEnds) end();
    this.listenerEnds.clear();
    for (const slot of [...this.slots.values()]) await this.closeSlot(slot);
  }

  /** Waits for `work`, at most `ms`. */
  private async within(work: Promise<unknown>, ms: number): Promise<void> {
    const stop = new AbortController();
    await Promise.race([work, sleep(this.clock, ms, stop.signal)]);
    stop.abort();
  }

  get isAccepting(): boolean {
    return this.accepting;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** An error for a log line, with any credentials in URLs masked. */
export function safeError(error: unknown): { message: string; name?: string; code?: string } {
  const e = error as { message?: string; name?: string; code?: string };
  const message = String(e?.message ?? error).replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (url) => redactUrl(url));
  return { message, ...(e?.name && { name: e.name }), ...(e?.code && { code: e.code }) };
}
