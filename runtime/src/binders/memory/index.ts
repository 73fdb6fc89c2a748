/**
 * The in-memory binder: a small broker inside the process, with the semantics the SPEC gives
 * a real one, so demos and local runs behave as they will on RabbitMQ or Kafka.
 *
 * - A destination fans every message out to all of its queues.
 * - A group has one durable queue (`<destination>.<group>`) that keeps messages while no
 *   member is up, for as long as the binder (the process) lives; its members compete.
 * - An anonymous consumer gets its own queue, created when it starts and deleted when it
 *   stops, so it never sees what was sent while it was down.
 * - `requiredGroups` declare group queues at producer creation.
 * - A requeued message comes back with `attempt + 1`; a dead letter lands in the group's
 *   `<destination>.<group>.dlq` list with SCSt's headers.
 * - A partitioned input reads the queue `<destination>.<group>-<instanceIndex>`, which only
 *   takes messages sent to that partition.
 *
 * Several sidecars in one process (the demo) share one instance, as apps share one broker.
 */
import { unsettledLimit, type BinderConfig, type BindingConfig } from '../../config/model.ts';
import { rabbit as naming } from '../../../../topology/naming.ts';
import {
  BinderUnavailableError,
  type Binder,
  type BinderDeps,
  type BinderState,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
  type InboundMessage,
  type OutboundMessage,
  type Producer,
} from '../binder.ts';

export interface MemoryBinder extends Binder {
  /** Dead letters of a group, oldest first (the `<destination>.<group>.dlq` list). */
  deadLetters(destination: string, group: string): InboundMessage[];
  /** Messages waiting in a queue, by its broker name (e.g. `studyExchange.atguiguA`). */
  queueDepth(queue: string): number;
  /** Makes the binder unreachable (`down`) or reachable again, as a broker outage would. */
  setReachable(reachable: boolean): void;
}

interface StoredMessage extends InboundMessage {
  /** The routing key the message was sent with, kept for `x-original-routingKey`. */
  routingKey: string;
}

class Queue {
  readonly ready: StoredMessage[] = [];
  readonly members: Member[] = [];
  private next = 0;
  private scheduled = false;

  constructor(
    readonly name: string,
    readonly destination: string,
    readonly group: string | undefined,
    /** Only messages for this partition; undefined takes every message. */
    readonly partition: number | undefined,
    private readonly broker: MemoryBroker,
  ) {}

  accepts(message: StoredMessage): boolean {
    return this.partition === undefined || message.partition === this.partition;
  }

  enqueue(message: StoredMessage, front = false): void {
    if (front) this.ready.unshift(message);
    else this.ready.push(message);
    this.schedule();
  }

  /** Dispatch runs on its own turn so that settling inside a handler never recurses. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.ready.length > 0 && this.broker.reachable) {
      const member = this.nextMember();
      if (!member) break;
      member.deliver(this.ready.shift()!);
    }
    this.broker.reportLag(this);
  }

  /** Round-robin over members that are running and have room. */
  private nextMember(): Member | undefined {
    for (let i = 0; i < this.members.length; i++) {
      const member = this.members[(this.next + i) % this.members.length]!;
      if (member.canTake()) {
        this.next = (this.next + i + 1) % this.members.length;
        return member;
      }
    }
    return undefined;
  }
}

class Member implements Consumer {
  private readonly inflight = new Set<StoredMessage>();
  private paused = false;
  private closed = false;

  constructor(
    private readonly queue: Queue,
    readonly binding: BindingConfig,
    private readonly handler: DeliveryHandler,
    private readonly broker: MemoryBroker,
  ) {}

  canTake(): boolean {
    return !this.paused && !this.closed && this.inflight.size < unsettledLimit(this.binding.consumer);
  }

  deliver(message: StoredMessage): void {
    this.inflight.add(message);
    let settled = false;
    const settle = (outcome: () => void) => async (): Promise<void> => {
      if (settled || !this.inflight.has(message)) return;
      settled = true;
      this.inflight.delete(message);
      outcome();
      this.queue.schedule();
    };
    const delivery: Delivery = {
      ...publicView(message),
      ack: settle(() => undefined),
      requeue: settle(() => this.queue.enqueue({ ...message, attempt: message.attempt + 1 }, true)),
      deadLetter: (reason: string) =>
        settle(() => {
          if (this.binding.consumer.deadLetter) this.broker.deadLetter(this.queue, message, reason);
        })(),
    };
    try {
      this.handler(delivery);
    } catch (error) {
      // Requeued, it would come straight back and fail again, in a loop that never yields:
      // a message the runtime cannot take is dead-lettered (or dropped) instead.
      this.broker.logger.error({ err: (error as Error).message, binding: this.binding.name, messageId: message.id }, 'delivery handler threw; message dead-lettered');
      void delivery.deadLetter(`the sidecar could not deliver the message: ${(error as Error).message}`);
    }
  }

  async pause(): Promise<void> {
    this.paused = true;
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.queue.schedule();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Unsettled messages go back to the queue, in their order, as a broker does on cancel.
    const unsettled = [...this.inflight].reverse();
    this.inflight.clear();
    for (const message of unsettled) this.queue.enqueue({ ...message, attempt: message.attempt + 1 }, true);
    this.broker.leave(this.queue, this);
  }
}

class MemoryBroker {
  /** destination -> queue name -> queue */
  private readonly destinations = new Map<string, Map<string, Queue>>();
  private readonly dlqs = new Map<string, InboundMessage[]>();
  reachable = true;

  constructor(
    readonly logger: BinderDeps['logger'],
    private readonly onConsumerLag: BinderDeps['onConsumerLag'],
  ) {}

  private queuesOf(destination: string): Map<string, Queue> {
    let queues = this.destinations.get(destination);
    if (!queues) {
      queues = new Map();
      this.destinations.set(destination, queues);
    }
    return queues;
  }

  /** Declares (or finds) a durable group queue, optionally for one partition. */
  groupQueue(destination: string, group: string, partition?: number): Queue {
    const name = partition === undefined ? naming.groupQueue(destination, group) : naming.partitionQueue(destination, group, partition);
    const queues = this.queuesOf(destination);
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, destination, group, partition, this);
      queues.set(name, queue);
    }
    return queue;
  }

  anonymousQueue(destination: string, partition?: number): Queue {
    const queue = new Queue(naming.anonymousQueue(destination), destination, undefined, partition, this);
    this.queuesOf(destination).set(queue.name, queue);
    return queue;
  }

  join(queue: Queue, member: Member): void {
    queue.members.push(member);
    queue.schedule();
  }

  leave(queue: Queue, member: Member): void {
    queue.members.splice(queue.members.indexOf(member), 1);
    if (queue.group === undefined) {
      // An anonymous queue is exclusive and auto-delete: it goes with its consumer.
      this.destinations.get(queue.destination)?.delete(queue.name);
    }
  }

  publish(destination: string, message: OutboundMessage): void {
    const routingKey = message.partition === undefined ? destination : naming.partitionRoutingKey(destination, message.partition);
    const stored: StoredMessage = {
      id: message.id,
      payload: Buffer.from(message.payload),
      contentType: message.contentType,
      headers: { ...message.headers },
      ...(message.partition !== undefined && { partition: message.partition }),
      attempt: 1,
      routingKey,
    };
    for (const queue of this.destinations.get(destination)?.values() ?? []) {
      if (queue.accepts(stored)) queue.enqueue({ ...stored, headers: { ...stored.headers } });
    }
  }

  deadLetter(queue: Queue, message: StoredMessage, reason: string): void {
    if (queue.group === undefined) return; // anonymous queues have no DLQ, as in SCSt
    const dlq = naming.dlq(naming.groupQueue(queue.destination, queue.group));
    const list = this.dlqs.get(dlq) ?? [];
    list.push({
      ...publicView(message),
      headers: {
        ...message.headers,
        'x-exception-message': reason,
        'x-original-exchange': queue.destination,
        'x-original-routingKey': message.routingKey,
      },
    });
    this.dlqs.set(dlq, list);
  }

  deadLetters(destination: string, group: string): InboundMessage[] {
    return [...(this.dlqs.get(naming.dlq(naming.groupQueue(destination, group))) ?? [])];
  }

  queueDepth(name: string): number {
    for (const queues of this.destinations.values()) {
      const queue = queues.get(name);
      if (queue) return queue.ready.length;
    }
    return 0;
  }

  reportLag(queue: Queue): void {
    if (!this.onConsumerLag) return;
    // A queue's depth is the lag of every binding consuming it.
    for (const member of queue.members) this.onConsumerLag(member.binding.name, queue.partition ?? 0, queue.ready.length);
  }

  wakeAll(): void {
    for (const queues of this.destinations.values()) for (const queue of queues.values()) queue.schedule();
  }
}

function publicView(message: StoredMessage | InboundMessage): InboundMessage {
  return {
    id: message.id,
    payload: message.payload,
    contentType: message.contentType,
    headers: { ...message.headers },
    ...(message.partition !== undefined && { partition: message.partition }),
    attempt: message.attempt,
  };
}

export function createMemoryBinder(config: BinderConfig, deps: BinderDeps): MemoryBinder {
  const broker = new MemoryBroker(deps.logger, deps.onConsumerLag);
  const listeners = new Set<(state: BinderState) => void>();
  let state: BinderState = 'connecting';
  const setState = (next: BinderState): void => {
    if (next === state) return;
    state = next;
    for (const listener of [...listeners]) listener(next);
  };
  const ensureOpen = (): void => {
    if (state === 'closed') throw new BinderUnavailableError(`binder ${config.name} is closed`);
  };

  return {
    name: config.name,
    type: 'memory',
    get state() {
      return state;
    },
    brokerVersion: 'memory',

    async connect() {
      ensureOpen();
      setState(broker.reachable ? 'up' : 'down');
    },

    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async createProducer(binding): Promise<Producer> {
      ensureOpen();
      const partitions = binding.producer.partitionCount > 1 ? binding.producer.partitionCount : undefined;
      for (const group of binding.producer.requiredGroups) {
        if (partitions === undefined) broker.groupQueue(binding.destination, group);
        else for (let p = 0; p < partitions; p++) broker.groupQueue(binding.destination, group, p);
      }
      let closed = false;
      return {
        async send(message) {
          if (closed || state !== 'up') throw new BinderUnavailableError(`binder ${config.name} is ${closed ? 'closed' : state}`);
          broker.publish(binding.destination, message);
          return message.partition !== undefined ? { partition: message.partition } : {};
        },
        async close() {
          closed = true;
        },
      };
    },

    async createConsumer(binding, handler): Promise<Consumer> {
      ensureOpen();
      const partition = binding.consumer.partitioned ? binding.consumer.instanceIndex : undefined;
      const queue =
        binding.group === undefined
          ? broker.anonymousQueue(binding.destination, partition)
          : broker.groupQueue(binding.destination, binding.group, partition);
      const member = new Member(queue, binding, handler, broker);
      broker.join(queue, member);
      return member;
    },

    async close() {
      setState('closed');
    },

    deadLetters: (destination, group) => broker.deadLetters(destination, group),
    queueDepth: (queue) => broker.queueDepth(queue),
    setReachable(reachable) {
      broker.reachable = reachable;
      if (state === 'closed' || state === 'connecting') return;
      setState(reachable ? 'up' : 'down');
      if (reachable) broker.wakeAll();
    },
  };
}
