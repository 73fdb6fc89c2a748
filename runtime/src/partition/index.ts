/**
 * Partition selection, the same on every broker (SPEC section 2): the key comes from the
 * `x-partition-key` header or the binding's partition key expression, and the partition is
 * Java's `String.hashCode` of the key (what a Spring Cloud Stream producer computes, so Java
 * and Bindery producers agree) or Kafka's murmur2 (what a plain Kafka producer computes).
 */
import type { PartitionSelector, ProducerConfig } from '../config/model.ts';
import { compileExpression, type CompiledExpression } from './expression.ts';

export { compileExpression, ExpressionSyntaxError, InvalidPartitionKeyError, keyString } from './expression.ts';
export type { CompiledExpression, ExpressionContext } from './expression.ts';

/**
 * A partitioned binding was sent a message without a key: no `x-partition-key` header and
 * an expression that found nothing (routes/errors.ts answers 400).
 */
export class MissingPartitionKeyError extends Error {
  override readonly name = 'MissingPartitionKeyError';
}

export interface PartitionedMessage {
  payload: unknown;
  headers: Record<string, string>;
  /** From the `x-partition-key` HTTP header; wins over the expression. */
  key?: string;
}

/** The partition for a message, or undefined when the binding is not partitioned. */
export function partitionFor(producer: ProducerConfig, message: PartitionedMessage): number | undefined {
  if (producer.partitionCount <= 1) return undefined;
  const key = message.key ?? evaluateKey(producer.partitionKeyExpression, message);
  if (key === undefined) {
    throw new MissingPartitionKeyError(
      producer.partitionKeyExpression === undefined
        ? `this binding is partitioned (partitionCount ${producer.partitionCount}): send an x-partition-key header or configure producer.partitionKeyExpression`
        : `this binding is partitioned (partitionCount ${producer.partitionCount}): the partition key expression "${producer.partitionKeyExpression}" found no value in the message and no x-partition-key header was sent`,
    );
  }
  return selectPartition(producer.partitionSelector, key, producer.partitionCount);
}

export function selectPartition(selector: PartitionSelector, key: string, partitionCount: number): number {
  return selector === 'murmur2' ? murmur2Partition(key, partitionCount) : javaHashPartition(key, partitionCount);
}

/** Spring Cloud Stream's DefaultPartitionSelectorStrategy followed by PartitionHandler's modulo. */
export function javaHashPartition(key: string, partitionCount: number): number {
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
function javaUtf8(s: string): Buffer {
  return Buffer.from(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '?'), 'utf8');
}

/** Java's String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units, wrapping at 32 bits. */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
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

const compiled = new Map<string, CompiledExpression>();

function evaluateKey(expression: string | undefined, message: PartitionedMessage): string | undefined {
  if (expression === undefined) return undefined;
  let program = compiled.get(expression);
  if (program === undefined) {
    program = compileExpression(expression);
    compiled.set(expression, program);
  }
  return program.evaluate({ payload: payloadValue(message.payload), headers: message.headers });
}

/** A raw JSON body is read as JSON so that `payload.id` works on it; other bytes as text. */
function payloadValue(payload: unknown): unknown {
  if (!(payload instanceof Uint8Array)) return payload;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
