/**
 * JSON read as Jackson reads it for a Spring application: like JSON.parse, except that each
 * number stays a JavaNumber of the type Jackson gives it (`1` an Integer, `1.0` a Double,
 * `3000000000` a Long, digits beyond 2^63 a BigInteger), so that a partition key hashes as the
 * Java object would. Only partitioned sends whose key expression reads the payload use it.
 *
 * The text was checked with JSON.parse already (the send route refuses invalid JSON), so this
 * reads it rather than validating it. Iterative, so that nesting depth costs heap rather than
 * stack; objects have no prototype, so a `__proto__` key is an ordinary key, as for JSON.parse.
 */
import { JavaNumber } from './java.ts';

type Container = { kind: 'array'; value: unknown[] } | { kind: 'object'; value: Record<string, unknown>; key?: string };

const TOKEN = /\s*(?:("(?:[^"\\]|\\.)*")|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}[\]:,]))/y;

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
}

export function parseJavaJson(text: string): unknown {
  const stack: Container[] = [];
  let result: unknown;
  let done = false;
  let position = 0;

  /** Puts a finished value where it belongs: into the container on top, or as the result. */
  const place = (value: unknown): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (done) fail('more than one value');
      result = value;
      done = true;
    } else if (top.kind === 'array') {
      top.value.push(value);
    } else if (top.key === undefined) {
      fail('a key must be a string');
    } else {
      top.value[top.key] = value;
      top.key = undefined;
    }
  };
  const fail = (problem: string): never => {
    throw new JsonSyntaxError(`not JSON: ${problem} at position ${position}`);
  };

  let expectKey = false;
  while (position < text.length) {
    TOKEN.lastIndex = position;
    const match = TOKEN.exec(text);
    if (match === null) {
      if (/^\s*$/.test(text.slice(position))) break;
      fail('unexpected character');
    }
    position = TOKEN.lastIndex;
    const [, string, number, literal, punctuation] = match!;
    const top = stack[stack.length - 1];
    if (string !== undefined) {
      const value = JSON.parse(string) as string;
      if (expectKey && top?.kind === 'object') {
        top.key = value;
        expectKey = false;
      } else place(value);
    } else if (number !== undefined) {
      place(JavaNumber.fromJson(number));
    } else if (literal !== undefined) {
      place(literal === 'null' ? null : literal === 'true');
    } else if (punctuation === '{') {
      stack.push({ kind: 'object', value: Object.create(null) as Record<string, unknown> });
      expectKey = true;
    } else if (punctuation === '[') {
      stack.push({ kind: 'array', value: [] });
    } else if (punctuation === '}' || punctuation === ']') {
      const closed = stack.pop();
      if (closed === undefined || (closed.kind === 'object') !== (punctuation === '}')) fail(`unexpected "${punctuation}"`);
      expectKey = false;
      place(closed!.value);
    } else if (punctuation === ',') {
      expectKey = top?.kind === 'object';
    }
    // ':' separates a key from its value; the key is already held by its object.
  }
  if (!done || stack.length > 0) fail('the text ended early');
  return result;
}
