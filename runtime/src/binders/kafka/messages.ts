/**
 * Translation between the binder contract's messages and Kafka records, in the form Spring
 * Cloud Stream's Kafka binder writes and reads them (SPEC section 2). Free of clients and
 * connections, so it is table-tested on its own.
 */
import type { InboundMessage, OutboundMessage } from '../binder.ts';

/** SCSt's partition header: Spring producers set it, and Spring consumers read it. */
export const PARTITION_HEADER = 'scst_partition';
export const CONTENT_TYPE_HEADER = 'contentType';
/** Kafka records have no message id; Bindery carries its own here (Spring ignores it). */
export const MESSAGE_ID_HEADER = 'bindery_messageId';
/** Spring Kafka's header mapper records its own header types here; it is not the app's. */
const SPRING_HEADER_TYPES = 'spring_json_header_types';

/** Headers the binder writes for itself; the application does not see them as its own. */
const BINDER_HEADERS = new Set([PARTITION_HEADER, CONTENT_TYPE_HEADER, MESSAGE_ID_HEADER, SPRING_HEADER_TYPES]);

/** A record as kafkajs sends it. */
export interface OutboundRecord {
  value: Buffer;
  key?: Buffer | null;
  partition?: number;
  headers: Record<string, string | Buffer>;
}

/** The part of a fetched kafkajs record that the translation reads. */
export interface FetchedRecord {
  key?: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

export function outboundRecord(message: OutboundMessage): OutboundRecord {
  const headers: Record<string, string> = { ...message.headers };
  headers[CONTENT_TYPE_HEADER] = message.contentType;
  headers[MESSAGE_ID_HEADER] = message.id;
  if (message.partition !== undefined) headers[PARTITION_HEADER] = String(message.partition);
  return {
    value: message.payload,
    ...(message.partition !== undefined && { partition: message.partition }),
    headers,
  };
}

export function inboundMessage(
  record: FetchedRecord,
  topic: string,
  partition: number,
  defaultContentType: string,
  attempt: number,
): InboundMessage {
  const raw = recordHeaders(record);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!BINDER_HEADERS.has(name)) headers[name] = value;
  }
  return {
    // A record from a Spring producer has no id; its coordinates identify it for good.
    id: raw[MESSAGE_ID_HEADER] || `${topic}-${partition}-${record.offset}`,
    payload: record.value ?? Buffer.alloc(0),
    contentType: contentTypeOf(raw[CONTENT_TYPE_HEADER]) ?? defaultContentType,
    headers,
    partition,
    attempt,
  };
}

/**
 * SCSt 2.x wrote `contentType` JSON-encoded (`"application/json"` with the quotes); 3.x
 * writes it raw. Both are read; Bindery writes it raw.
 */
export function contentTypeOf(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (typeof parsed === 'string' && parsed !== '') return parsed;
    } catch {
      // Not JSON after all: the value is the content type as written.
    }
  }
  return value;
}

/**
 * The dead letter of a record that failed, as SCSt's Kafka binder writes it: the original
 * key, value and headers, to the same partition number of `error.<destination>.<group>`,
 * plus where it came from and why it failed.
 */
export function deadLetterRecord(
  record: FetchedRecord,
  topic: string,
  partition: number,
  reason: string,
  deadLetterPartitions: number,
): OutboundRecord {
  const headers: Record<string, string | Buffer> = { ...recordHeaders(record) };
  headers['x-original-topic'] = topic;
  headers['x-original-partition'] = String(partition);
  headers['x-original-offset'] = record.offset;
  headers['x-original-timestamp'] = record.timestamp;
  headers['x-exception-message'] = reason;
  return {
    value: record.value ?? Buffer.alloc(0),
    key: record.key ?? null,
    partition: partition % Math.max(1, deadLetterPartitions),
    headers,
  };
}

/** Header values as text; a header given several times keeps its last value, as Spring does. */
export function recordHeaders(record: Pick<FetchedRecord, 'headers'>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last === undefined) continue;
    headers[name] = typeof last === 'string' ? last : last.toString('utf8');
  }
  return headers;
}
