/**
 * Partition selection and record keys, the same on every broker (SPEC section 2). The
 * partition key comes from the `x-partition-key` header or the binding's partition key
 * expression; the partition is the `hashCode()` of the Java object Spring Cloud Stream would
 * have evaluated (java.ts: a string, an Integer, a Long, a Double...), so that Java and
 * Bindery producers agree, or Kafka's murmur2 of the key's text. The Kafka record key comes
 * from the `x-message-key` header or `producer.messageKeyExpression`.
 */
import type { PartitionSelector, ProducerConfig } from '../config/model.ts';
import { checkedKey, compileExpression, type CompiledExpression } from './expression.ts';
import { javaHashCode, javaString } from './java.ts';
import { parseJavaJson } from './json.ts';

export { compileExpression, ExpressionSyntaxError, InvalidPartitionKeyError } from './expression.ts';
export type { CompiledExpression, ExpressionContext } from './expression.ts';
export { javaHashCode, javaString, JavaNumber } from './java.ts';
export { parseJavaJson } from './json.ts';

/**
 * A partitioned binding was sent a message without a key: no `x-partition-key` header and
 * an expression that found nothing (routes/errors.ts answers 400).
 */
export class MissingPartitionKeyError extends Error {
  override readonly name = 'MissingPartitionKeyError';
}

export interface PartitionedMessage {
  /** The payload as a JSON value or text; raw bytes are read as JSON when they are JSON. */
  payload: unknown;
  headers: Record<string, string>;
  /** From the `x-partition-key` HTTP header; wins over the partition key expression. */
  key?: string;
  /** From the `x-message-key` HTTP header; wins over the message key expression. */
  messageKey?: string;
}

/**
 * The partition for a message, or undefined when the binding is not partitioned, or when
 * `placesKeyedRecords` (Kafka) and the message has a record key but no partition key: Kafka's
 * own partitioner places it then, by murmur2 of the record key (SPEC section 2).
 */
export function partitionFor(producer: ProducerConfig, message: PartitionedMessage, placesKeyedRecords = false): number | undefined {
  if (producer.partitionCount <= 1) return undefined;
  const key = message.key ?? evaluate(producer.partitionKeyExpression, message);
  if (key === undefined && placesKeyedRecords && producer.partitionKeyExpression === undefined && messageKeyFor(producer, message) !== undefined) {
    return undefined;
  }
  if (key === undefined) {
    throw new MissingPartitionKeyError(
      producer.partitionKeyExpression === undefined
        ? `this binding is partitioned (partitionCount ${producer.partitionCount}): send an x-partition-key header or configure producer.partitionKeyExpression`
        : `this binding is partitioned (partitionCount ${producer.partitionCount}): the partition key expression "${producer.partitionKeyExpression}" found no value in the message and no x-partition-key header was sent`,
    );
  }
  return selectPartition(producer.partitionSelector, key, producer.partitionCount);
}

/** `key`: a string, or the value an expression evaluated to (java.ts types). */
export function selectPartition(selector: PartitionSelector, key: unknown, partitionCount: number): number {
  return selector === 'murmur2' ? murmur2Partition(javaString(key), partitionCount) : javaHashPartition(key, partitionCount);
}

/** Spring Cloud Stream's DefaultPartitionSelectorStrategy followed by PartitionHandler's modulo. */
export function javaHashPartition(key: unknown, partitionCount: number): number {
  const hash = javaHashCode(key);
  // Math.abs(Integer.MIN_VALUE) is still negative in Java, hence SCSt's special case.
  return (hash === -0x80000000 ? 0 : Math.abs(hash)) % partitionCount;
}

/** Kafka's DefaultPartitioner / BuiltInPartitioner for a keyed record. */
export function murmur2Partition(key: string, partitionCount: number): number {
  return (murmur2(javaUtf8(key)) & 0x7fffffff) % partitionCount;
}

/**
 * The bytes Kafka's StringSerializer produces: Java encodes an unpaired surrogate as "?",
 * where Node would write U+FFFD, and the two would hash to different partitions.
 */
export function javaUtf8(s: string): Buffer {
  return Buffer.from(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '?'), 'utf8');
}

/** Kafka's org.apache.kafka.common.utils.Utils.murmur2, as a signed 32-bit int. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // Java's switch falls through from case 3 to case 1.
  const rest = length & 3;
  if (rest >= 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The Kafka record key of a message: the `x-message-key` header, else the text of what
 * `producer.messageKeyExpression` finds (as a Java StringSerializer would write the object
 * Spring evaluated); undefined when neither gives one, as Spring sends a null key then.
 */
export function messageKeyFor(producer: ProducerConfig, message: PartitionedMessage): string | undefined {
  if (message.messageKey !== undefined) return message.messageKey;
  const key = evaluate(producer.messageKeyExpression, message);
  return key === undefined ? undefined : javaString(key);
}

const compiled = new Map<string, CompiledExpression>();

function evaluate(expression: string | undefined, message: PartitionedMessage): unknown {
  if (expression === undefined) return undefined;
  let program = compiled.get(expression);
  if (program === undefined) {
    program = compileExpression(expression);
    compiled.set(expression, program);
  }
  return checkedKey(program.evaluate({ payload: payloadValue(message.payload), headers: message.headers }));
}

/** Raw bytes are read as JSON (keeping Java's number types) when they are JSON, else as text. */
function payloadValue(payload: unknown): unknown {
  if (!(payload instanceof Uint8Array)) return payload;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  try {
    return parseJavaJson(text);
  } catch {
    return text;
  }
}
