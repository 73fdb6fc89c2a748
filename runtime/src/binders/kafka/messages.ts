/**
 * Translation between the binder contract's messages and Kafka records, in the form Spring
 * Cloud Stream's Kafka binder writes and reads them (SPEC section 2). Free of clients and
 * connections, so it is table-tested on its own.
 *
 * Headers follow Spring Kafka's header mapper (DefaultKafkaHeaderMapper, and Spring Cloud
 * Stream's BinderHeaderMapper, its copy): a String value is written as its raw UTF-8 bytes and
 * named `java.lang.String` in `spring_json_header_types`; any other value is JSON with its Java
 * class named there. A Spring consumer then reads Bindery's headers (HTTP header values, so
 * all strings, `contentType` included) as `String`, and without that header as `byte[]`, which
 * its message conversion refuses for `contentType`.
 */
import { javaUtf8 } from '../../partition/index.ts';
import type { InboundMessage, OutboundMessage } from '../binder.ts';

/** SCSt's partition header: Spring producers set it, and Spring consumers read it. */
export const PARTITION_HEADER = 'scst_partition';
export const CONTENT_TYPE_HEADER = 'contentType';
/** Kafka records have no message id; Bindery carries its own here (Spring ignores it). */
export const MESSAGE_ID_HEADER = 'bindery_messageId';
/** Spring Kafka's header mapper names each header's Java type here; it is not the app's. */
export const HEADER_TYPES_HEADER = 'spring_json_header_types';

const JAVA_STRING = 'java.lang.String';
const JAVA_INTEGER = 'java.lang.Integer';

/** Headers the binder writes for itself; the application does not see them as its own. */
const BINDER_HEADERS = new Set([PARTITION_HEADER, CONTENT_TYPE_HEADER, MESSAGE_ID_HEADER, HEADER_TYPES_HEADER]);

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
  const headers: Record<string, string> = {};
  const types: Record<string, string> = {};
  const put = (name: string, value: string, type = JAVA_STRING): void => {
    headers[name] = type === JAVA_STRING ? springString(value) : value;
    types[name] = type;
  };
  for (const [name, value] of Object.entries(message.headers)) put(name, value);
  put(CONTENT_TYPE_HEADER, message.contentType);
  put(MESSAGE_ID_HEADER, message.id);
  if (message.partition !== undefined) put(PARTITION_HEADER, String(message.partition), JAVA_INTEGER);
  headers[HEADER_TYPES_HEADER] = JSON.stringify(types);
  return {
    value: message.payload,
    // As a Java StringSerializer writes the key, so that Kafka's partitioner hashes the same bytes.
    ...(message.key !== undefined && { key: javaUtf8(message.key) }),
    ...(message.partition !== undefined && { partition: message.partition }),
    headers,
  };
}

/**
 * A String header as the mapper reads it back: raw bytes, unless they start with a quote, which
 * the mapper takes for a JSON-encoded string (what `encodeStrings` and older versions wrote).
 * Such a value is written JSON-encoded, so that it arrives unchanged.
 */
function springString(value: string): string {
  return value.startsWith('"') ? JSON.stringify(value) : value;
}

export function inboundMessage(
  record: FetchedRecord,
  topic: string,
  partition: number,
  defaultContentType: string,
  attempt: number,
): InboundMessage {
  const raw = recordHeaders(record);
  const types = headerTypes(raw[HEADER_TYPES_HEADER]);
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) text[name] = headerText(value, types[name]);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(text)) {
    if (!BINDER_HEADERS.has(name)) headers[name] = value;
  }
  return {
    // A record from a Spring producer has no id; its coordinates identify it for good.
    id: text[MESSAGE_ID_HEADER] || `${topic}-${partition}-${record.offset}`,
    payload: record.value ?? Buffer.alloc(0),
    contentType: contentTypeOf(text[CONTENT_TYPE_HEADER]) ?? defaultContentType,
    headers,
    partition,
    attempt,
  };
}

/** `spring_json_header_types`: header name to Java class name; anything unreadable names none. */
function headerTypes(value: Buffer | string | undefined): Record<string, string> {
  if (value === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(value.toString());
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}

/**
 * A header value as the app's text: a typed value as its JSON (`5`, `true`), a JSON string
 * decoded, an untyped one (Spring's `byte[]`) as UTF-8.
 */
function headerText(value: Buffer | string, type: string | undefined): string {
  const text = value.toString();
  if (type === undefined || !text.startsWith('"')) return text;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? parsed : text;
  } catch {
    return text;
  }
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

/** The headers of a record as they arrived; a header given several times keeps its last value, as Spring does. */
export function recordHeaders(record: Pick<FetchedRecord, 'headers'>): Record<string, Buffer | string> {
  const headers: Record<string, Buffer | string> = {};
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) headers[name] = last;
  }
  return headers;
}
