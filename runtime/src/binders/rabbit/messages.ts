/**
 * Translation between the binder contract's messages and AMQP properties, kept free of
 * channels and connections so that it is table-tested on its own.
 */
import { randomUUID } from 'node:crypto';
import { rabbit } from '../../../../topology/naming.ts';
import type { InboundMessage, OutboundMessage } from '../binder.ts';

/** SCSt's partition header: Spring producers set it, and Spring consumers read it. */
export const PARTITION_HEADER = 'scst_partition';

/** The AMQP basic properties of a publish, in amqplib's option names. */
export interface PublishProperties {
  persistent: true;
  contentType: string;
  messageId: string;
  headers: Record<string, unknown>;
  mandatory: false;
}

/** The part of a received AMQP message that the translation reads. */
export interface ReceivedAmqpMessage {
  content: Buffer;
  fields: { redelivered: boolean; exchange: string; routingKey: string };
  properties: { contentType?: unknown; messageId?: unknown; headers?: Record<string, unknown> };
}

export interface Route {
  exchange: string;
  routingKey: string;
}

/**
 * Where a message of `destination` goes: SCSt routes unpartitioned messages with the
 * destination's name (group queues bind with `#`) and partitioned ones with
 * `<destination>-<n>`.
 */
export function route(destination: string, partition: number | undefined): Route {
  return {
    exchange: rabbit.exchange(destination),
    routingKey: partition === undefined ? destination : rabbit.partitionRoutingKey(destination, partition),
  };
}

/**
 * The message's headers go to amqplib as they are unless a partition header joins them:
 * amqplib reads them through an object of its own and never changes them.
 */
export function publishProperties(message: OutboundMessage, partition: number | undefined): PublishProperties {
  const headers: Record<string, unknown> = partition === undefined ? message.headers : { ...message.headers, [PARTITION_HEADER]: partition };
  return {
    persistent: true,
    contentType: message.contentType,
    messageId: message.id,
    headers,
    // SCSt publishes without `mandatory`: a message no queue takes is dropped by the broker,
    // not returned, so a destination without consumers still accepts sends.
    mandatory: false,
  };
}

/** Headers the broker or the binder use for themselves; the application never sees them. */
const BROKER_HEADERS = new Set(['x-death', 'x-delivery-count', 'x-first-death-exchange', 'x-first-death-queue',
  'x-first-death-reason', 'x-last-death-exchange', 'x-last-death-queue', 'x-last-death-reason', PARTITION_HEADER]);

export function inboundMessage(
  message: ReceivedAmqpMessage,
  queue: string,
  destination: string,
  defaultContentType: string,
): InboundMessage {
  const { properties, fields } = message;
  const amqpHeaders = properties.headers ?? {};
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(amqpHeaders)) {
    if (BROKER_HEADERS.has(name) || value === undefined || value === null) continue;
    headers[name] = headerText(value);
  }
  const partition = partitionOf(fields.routingKey, destination, amqpHeaders[PARTITION_HEADER]);
  return {
    // Spring AMQP leaves message_id empty by default; the runtime still needs an id to ack by.
    id: typeof properties.messageId === 'string' && properties.messageId !== '' ? properties.messageId : randomUUID(),
    payload: message.content,
    contentType: typeof properties.contentType === 'string' && properties.contentType !== ''
      ? properties.contentType
      : defaultContentType,
    headers,
    ...(partition === undefined ? {} : { partition }),
    attempt: attempt(fields.redelivered, amqpHeaders, queue),
  };
}

/**
 * Classic queues only say "redelivered" (so at least the second attempt); quorum queues
 * count deliveries in `x-delivery-count`; a message the broker dead-lettered from this
 * queue and that came back counts those rounds in `x-death`.
 */
export function attempt(redelivered: boolean, headers: Record<string, unknown>, queue: string): number {
  const deliveryCount = Number(headers['x-delivery-count']);
  const deaths = Array.isArray(headers['x-death'])
    ? (headers['x-death'] as unknown[])
      .filter((d): d is { queue?: unknown; count?: unknown } => typeof d === 'object' && d !== null)
      .filter((d) => d.queue === queue)
      .reduce((sum, d) => sum + (Number(d.count) || 0), 0)
    : 0;
  return Math.max(
    redelivered ? 2 : 1,
    Number.isFinite(deliveryCount) && deliveryCount > 0 ? deliveryCount + 1 : 1,
    deaths + 1,
  );
}

function partitionOf(routingKey: string, destination: string, header: unknown): number | undefined {
  const prefix = `${destination}-`;
  if (routingKey.startsWith(prefix)) {
    const n = Number(routingKey.slice(prefix.length));
    if (Number.isInteger(n) && n >= 0) return n;
  }
  const fromHeader = Number(header);
  return header !== undefined && Number.isInteger(fromHeader) && fromHeader >= 0 ? fromHeader : undefined;
}

function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * The republished dead letter, as SCSt's RepublishMessageRecoverer writes it: the original
 * body and properties, plus why it failed and where it came from.
 */
export function deadLetterProperties(message: ReceivedAmqpMessage, reason: string): PublishProperties {
  const { properties, fields } = message;
  return {
    persistent: true,
    contentType: typeof properties.contentType === 'string' ? properties.contentType : 'application/octet-stream',
    messageId: typeof properties.messageId === 'string' ? properties.messageId : randomUUID(),
    headers: {
      ...(properties.headers ?? {}),
      'x-exception-message': reason,
      'x-original-exchange': fields.exchange,
      'x-original-routingKey': fields.routingKey,
    },
    mandatory: false,
  };
}
