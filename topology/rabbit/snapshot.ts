/**
 * A vhost's exchanges, queues and bindings as read in bulk (the management API's lists), and
 * the drift of a desired topology against it: what the snapshot lacks, what it holds with other
 * settings than declared, and the depth of the queues a group consumes. Pure: the session
 * (session.ts) reads the lists and decides what to read again passively
 * (docs/adr/0046-resync-reads-rabbitmq-in-bulk.md).
 */
import type { RabbitTopology } from './desired.ts';

export interface SnapshotExchange {
  type: string;
  durable: boolean;
  autoDelete: boolean;
}

export interface SnapshotQueue {
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
  /** Absent until RabbitMQ has collected the queue's first statistics. */
  messagesReady?: number;
}

export interface RabbitSnapshot {
  exchanges: Map<string, SnapshotExchange>;
  queues: Map<string, SnapshotQueue>;
  /** bindingId of each binding from an exchange to a queue. */
  bindings: Set<string>;
}

export interface RabbitDrift {
  /** Ids (objectId, bindingId) of the objects the snapshot does not hold. */
  absent: string[];
  /** One sentence per object held with other settings than desired: a declaration would be refused. */
  differs: string[];
  /** Messages ready in the consume queues whose depth the snapshot holds. */
  ready: number;
  /** Consume queues the snapshot holds without a depth. */
  depthUnknown: string[];
}

/**
 * Queue arguments RabbitMQ compares when a queue is declared again, among those a binding can
 * declare: an existing queue with one of these that the binding does not set is refused too.
 */
const COMPARED_ARGUMENTS = ['x-dead-letter-exchange', 'x-dead-letter-routing-key'];

export const objectId = (kind: 'exchange' | 'queue', name: string): string => `${kind} ${name}`;

export const bindingId = (exchange: string, queue: string, routingKey: string): string =>
  `binding ${exchange} -> ${queue} (${routingKey})`;

/** The management API's lists (GET /api/exchanges|queues|bindings/{vhost}) as a snapshot; unknown shapes are skipped. */
export function parseSnapshot(lists: { exchanges: unknown; queues: unknown; bindings: unknown }): RabbitSnapshot {
  const items = (list: unknown): Array<Record<string, unknown>> =>
    Array.isArray(list) ? list.filter((item): item is Record<string, unknown> => typeof item === 'object' && item !== null) : [];
  const snapshot: RabbitSnapshot = { exchanges: new Map(), queues: new Map(), bindings: new Set() };
  for (const e of items(lists.exchanges)) {
    if (typeof e.name !== 'string') continue;
    snapshot.exchanges.set(e.name, { type: String(e.type), durable: e.durable === true, autoDelete: e.auto_delete === true });
  }
  for (const q of items(lists.queues)) {
    if (typeof q.name !== 'string') continue;
    const args = typeof q.arguments === 'object' && q.arguments !== null && !Array.isArray(q.arguments) ? (q.arguments as Record<string, unknown>) : {};
    snapshot.queues.set(q.name, {
      durable: q.durable === true,
      autoDelete: q.auto_delete === true,
      arguments: args,
      ...(typeof q.messages_ready === 'number' && { messagesReady: q.messages_ready }),
    });
  }
  for (const b of items(lists.bindings)) {
    if (b.destination_type !== 'queue' || typeof b.source !== 'string' || typeof b.destination !== 'string') continue;
    snapshot.bindings.add(bindingId(b.source, b.destination, String(b.routing_key ?? '')));
  }
  return snapshot;
}

/** `topology` against `snapshot`; `lag` asks for the depth of its consume queues. */
export function rabbitDrift(topology: RabbitTopology, snapshot: RabbitSnapshot, options: { lag: boolean }): RabbitDrift {
  const drift: RabbitDrift = { absent: [], differs: [], ready: 0, depthUnknown: [] };
  for (const exchange of topology.exchanges) {
    const found = snapshot.exchanges.get(exchange.name);
    if (!found) {
      drift.absent.push(objectId('exchange', exchange.name));
      continue;
    }
    const wanted: SnapshotExchange = { type: exchange.type, durable: exchange.durable, autoDelete: exchange.autoDelete };
    drift.differs.push(...differences('exchange', exchange.name, { ...wanted }, { ...found }));
  }
  const consumed = new Set(options.lag ? topology.consumeQueues : []);
  for (const queue of topology.queues) {
    const found = snapshot.queues.get(queue.name);
    if (!found) {
      drift.absent.push(objectId('queue', queue.name));
      continue;
    }
    const keys = new Set([...Object.keys(queue.arguments), ...COMPARED_ARGUMENTS]);
    const pick = (args: Record<string, unknown>) => Object.fromEntries([...keys].map((key) => [key, args[key]]));
    drift.differs.push(...differences('queue', queue.name,
      { durable: queue.durable, autoDelete: queue.autoDelete, ...pick(queue.arguments) },
      { durable: found.durable, autoDelete: found.autoDelete, ...pick(found.arguments) }));
    if (consumed.has(queue.name)) {
      if (found.messagesReady === undefined) drift.depthUnknown.push(queue.name);
      else drift.ready += found.messagesReady;
    }
  }
  for (const binding of topology.bindings) {
    const id = bindingId(binding.exchange, binding.queue, binding.routingKey);
    if (!snapshot.bindings.has(id)) drift.absent.push(id);
  }
  return drift;
}

/** A sentence per setting that differs; `none` for a setting one side does not have. */
function differences(kind: string, name: string, wanted: Record<string, unknown>, found: Record<string, unknown>): string[] {
  const shown = (value: unknown): string => (value === undefined ? 'none' : String(value));
  return Object.keys(wanted)
    .filter((key) => shown(wanted[key]) !== shown(found[key]))
    .map((key) => `${kind} '${name}' exists with ${key} = ${shown(found[key])}, this binding declares ${key} = ${shown(wanted[key])}`);
}
