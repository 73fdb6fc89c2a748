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
  let appHeaders = false;
  for (const name of Object.keys(message.headers)) {
    headers[name] = springString(message.headers[name]!);
    appHeaders = true;
  }
  headers[CONTENT_TYPE_HEADER] = springString(message.contentType);
  headers[MESSAGE_ID_HEADER] = springString(message.id);
  const { partition } = message;
  if (partition !== undefined) headers[PARTITION_HEADER] = String(partition);
  // Without the app's headers the types are one of two texts, made once rather than per record.
  headers[HEADER_TYPES_HEADER] = appHeaders
    ? headerTypesText(message.headers, partition !== undefined)
    : partition === undefined ? BINDER_TYPES : PARTITIONED_BINDER_TYPES;
  const record: OutboundRecord = { value: message.payload, headers };
  // As a Java StringSerializer writes the key, so that Kafka's partitioner hashes the same bytes.
  if (message.key !== undefined) record.key = javaUtf8(message.key);
  if (partition !== undefined) record.partition = partition;
  return record;
}

/** `spring_json_header_types` of a record with the app's headers `appHeaders` and the binder's own. */
function headerTypesText(appHeaders: Record<string, string>, partitioned: boolean): string {
  const types: Record<string, string> = {};
  for (const name of Object.keys(appHeaders)) types[name] = JAVA_STRING;
  types[CONTENT_TYPE_HEADER] = JAVA_STRING;
  types[MESSAGE_ID_HEADER] = JAVA_STRING;
  if (partitioned) types[PARTITION_HEADER] = JAVA_INTEGER;
  return JSON.stringify(types);
}

const BINDER_TYPES = headerTypesText({}, false);
const PARTITIONED_BINDER_TYPES = headerTypesText({}, true);

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
  // The binder's own headers (partition, content type, id, types) are not the app's.
  const headers: Record<string, string> = {};
  let id: string | undefined;
  let contentType: string | undefined;
  const raw = record.headers;
  if (raw !== undefined) {
    const types = headerTypes(lastValue(raw[HEADER_TYPES_HEADER]));
    // Own names only: a header named __proto__ is a prototype on kafkajs' object, not a key.
    for (const name of Object.keys(raw)) {
      if (name === HEADER_TYPES_HEADER || name === PARTITION_HEADER) continue;
      const value = lastValue(raw[name]);
      if (value === undefined) continue;
      const text = headerText(value, types[name]);
      if (name === MESSAGE_ID_HEADER) id = text;
      else if (name === CONTENT_TYPE_HEADER) contentType = text;
      else headers[name] = text;
    }
  }
  return {
    // A record from a Spring producer has no id; its coordinates identify it for good.
    id: id || `${topic}-${partition}-${record.offset}`,
    payload: record.value ?? Buffer.alloc(0),
    contentType: contentTypeOf(contentType) ?? defaultContentType,
    headers,
    partition,
    attempt,
  };
}

/** A header given several times keeps its last value, as Spring does. */
function lastValue(value: Buffer | string | (Buffer | string)[] | undefined): Buffer | string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** The types header read last, and what it said: the records of one producer all carry the same. */
let typesSeen: { text: string; types: Readonly<Record<string, string>> } = { text: '', types: {} };

/** `spring_json_header_types`: header name to Java class name; anything unreadable names none. */
function headerTypes(value: Buffer | string | undefined): Readonly<Record<string, string>> {
  if (value === undefined) return {};
  const text = value.toString();
  if (text === typesSeen.text) return typesSeen.types;
  let types: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      types = Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    }
  } catch {
    // Unreadable: no header has a type, every value is its bytes.
  }
  typesSeen = { text, types };
  return types;
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
