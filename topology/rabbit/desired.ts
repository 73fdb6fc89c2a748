/**
 * The RabbitMQ objects a binding needs (SPEC section 2), as a pure function of its topology
 * input. The sidecar's rabbit binder declares exactly this list, and the operator's RabbitMQ
 * session declares and deletes the same list, so the two can never disagree. No broker
 * client here: the result is plain data that declare.ts turns into calls.
 */
import type { TopologyInput } from '../input.ts';
import { RABBIT_DLX, rabbit } from '../naming.ts';

export interface RabbitExchange {
  name: string;
  type: 'topic' | 'direct';
  durable: boolean;
  autoDelete: boolean;
}

export interface RabbitQueue {
  name: string;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  /** `x-` arguments; RabbitMQ refuses to re-declare a queue with different ones. */
  arguments: Record<string, string>;
}

/** A binding from an exchange to a queue (RabbitMQ's meaning of "binding"). */
export interface RabbitQueueBinding {
  exchange: string;
  queue: string;
  routingKey: string;
}

export interface RabbitTopology {
  exchanges: RabbitExchange[];
  queues: RabbitQueue[];
  bindings: RabbitQueueBinding[];
  /** The queues an input consumes from; empty for outputs. */
  consumeQueues: string[];
}

/** The parts of a binding's settings that decide its RabbitMQ topology. */
export type RabbitTopologyInput = Pick<TopologyInput, 'direction' | 'destination' | 'group'> & {
  producer: Pick<TopologyInput['producer'], 'partitionCount' | 'requiredGroups' | 'deadLetter'>;
  consumer: Pick<TopologyInput['consumer'], 'deadLetter' | 'partitioned' | 'instanceIndex' | 'instanceCount'>;
};

export interface RabbitTopologyOptions {
  /**
   * Name of the anonymous queue of an input without a group. Such a queue is exclusive to
   * the connection that consumes it, so only a running consumer can own it: without a name
   * the topology of an anonymous input is its exchange alone (what the operator declares).
   */
  anonymousQueue?: string;
}

/**
 * Everything `binding` needs, in declaration order (exchanges, then queues, then bindings),
 * without duplicates.
 *
 * Partitioned inputs consume the partitions `p` with `p % instanceCount == instanceIndex`
 * among `max(producer.partitionCount, instanceCount)`: with the defaults that is SCSt's one
 * queue `<destination>.<group>-<instanceIndex>`, and instanceIndex 0 of instanceCount 1
 * with partitionCount N gives all N partition queues (the operator's view).
 */
export function rabbitTopology(binding: RabbitTopologyInput, options: RabbitTopologyOptions = {}): RabbitTopology {
  const topology = new TopologyBuilder();
  const { destination } = binding;
  topology.exchange({ name: rabbit.exchange(destination), type: 'topic', durable: true, autoDelete: false });

  if (binding.direction === 'output') {
    const partitions = range(Math.max(1, binding.producer.partitionCount));
    const partitioned = binding.producer.partitionCount > 1;
    // Required groups follow the producer's own dead-letter setting, as Spring's producer
    // autoBindDlq does: with the defaults on both sides, the consumer that comes later (a
    // sidecar or a Spring service) finds an equivalent queue, not a PRECONDITION_FAILED.
    for (const group of binding.producer.requiredGroups) {
      groupQueues(topology, destination, group, partitioned ? partitions : undefined, binding.producer.deadLetter);
    }
    return topology.build([]);
  }

  const partitions = binding.consumer.partitioned ? instancePartitions(binding) : undefined;
  if (binding.group !== undefined) {
    const queues = groupQueues(topology, destination, binding.group, partitions, binding.consumer.deadLetter);
    return topology.build(queues);
  }
  if (options.anonymousQueue === undefined) return topology.build([]);
  const queue = options.anonymousQueue;
  topology.queue({ name: queue, durable: false, exclusive: true, autoDelete: true, arguments: {} });
  for (const key of routingKeys(destination, partitions)) {
    topology.bind({ exchange: rabbit.exchange(destination), queue, routingKey: key });
  }
  return topology.build([queue]);
}

/** The group's queue, or one queue per partition, with the DLX and the group's DLQ. */
function groupQueues(
  topology: TopologyBuilder,
  destination: string,
  group: string,
  partitions: number[] | undefined,
  deadLetter: boolean,
): string[] {
  const baseQueue = rabbit.groupQueue(destination, group);
  const queues = partitions === undefined
    ? [{ name: baseQueue, routingKey: rabbit.groupBindingKey }]
    : partitions.map((p) => ({
      name: rabbit.partitionQueue(destination, group, p),
      routingKey: rabbit.partitionRoutingKey(destination, p),
    }));
  if (deadLetter) {
    topology.exchange({ name: RABBIT_DLX, type: 'direct', durable: true, autoDelete: false });
  }
  for (const queue of queues) {
    topology.queue({
      name: queue.name,
      durable: true,
      exclusive: false,
      autoDelete: false,
      arguments: deadLetter
        ? { 'x-dead-letter-exchange': RABBIT_DLX, 'x-dead-letter-routing-key': rabbit.dlqRoutingKey(queue.name) }
        : {},
    });
    topology.bind({ exchange: rabbit.exchange(destination), queue: queue.name, routingKey: queue.routingKey });
  }
  if (deadLetter) {
    // As in SCSt, the partitions of a group share one DLQ, bound once per partition queue.
    const dlq = rabbit.dlq(baseQueue);
    topology.queue({ name: dlq, durable: true, exclusive: false, autoDelete: false, arguments: {} });
    for (const queue of queues) {
      topology.bind({ exchange: RABBIT_DLX, queue: dlq, routingKey: rabbit.dlqRoutingKey(queue.name) });
    }
  }
  return queues.map((q) => q.name);
}

function instancePartitions(binding: RabbitTopologyInput): number[] {
  const { instanceIndex, instanceCount } = binding.consumer;
  const count = Math.max(binding.producer.partitionCount, instanceCount, 1);
  return range(count).filter((p) => p % Math.max(instanceCount, 1) === instanceIndex);
}

function routingKeys(destination: string, partitions: number[] | undefined): string[] {
  return partitions === undefined
    ? [rabbit.groupBindingKey]
    : partitions.map((p) => rabbit.partitionRoutingKey(destination, p));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

class TopologyBuilder {
  private readonly exchanges = new Map<string, RabbitExchange>();
  private readonly queues = new Map<string, RabbitQueue>();
  private readonly bindings = new Map<string, RabbitQueueBinding>();

  exchange(exchange: RabbitExchange): void {
    this.exchanges.set(exchange.name, exchange);
  }

  queue(queue: RabbitQueue): void {
    this.queues.set(queue.name, queue);
  }

  bind(binding: RabbitQueueBinding): void {
    this.bindings.set(JSON.stringify([binding.exchange, binding.queue, binding.routingKey]), binding);
  }

  build(consumeQueues: string[]): RabbitTopology {
    return {
      exchanges: [...this.exchanges.values()],
      queues: [...this.queues.values()],
      bindings: [...this.bindings.values()],
      consumeQueues,
    };
  }
}
