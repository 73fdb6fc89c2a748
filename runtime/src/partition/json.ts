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

/** A JSON number at the sticky position (the text is valid JSON, so this only finds its end). */
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
}

/**
 * Reads the text a character at a time: a tokenizing regular expression made a match array and
 * its substrings for every bracket and comma, and a body nested a hundred thousand deep made
 * megabytes of garbage per send. Strings and numbers are the only tokens sliced out.
 */
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
  /** The string token starting at `position` (a quote), decoded; moves past it. */
  const readString = (): string => {
    let end = position + 1;
    let escaped = false;
    for (;;) {
      if (end >= text.length) fail('an unterminated string');
      const c = text.charCodeAt(end);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        end++;
      }
      end++;
    }
    const value = escaped ? (JSON.parse(text.slice(position, end + 1)) as string) : text.slice(position + 1, end);
    position = end + 1;
    return value;
  };

  let expectKey = false;
  while (position < text.length) {
    const char = text[position]!;
    const top = stack[stack.length - 1];
    switch (char) {
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        position++;
        break;
      case '"': {
        const value = readString();
        if (expectKey && top?.kind === 'object') {
          top.key = value;
          expectKey = false;
        } else place(value);
        break;
      }
      case '{':
        position++;
        stack.push({ kind: 'object', value: Object.create(null) as Record<string, unknown> });
        expectKey = true;
        break;
      case '[':
        position++;
        stack.push({ kind: 'array', value: [] });
        break;
      case '}':
      case ']': {
        position++;
        const closed = stack.pop();
        if (closed === undefined || (closed.kind === 'object') !== (char === '}')) fail(`unexpected "${char}"`);
        expectKey = false;
        place(closed!.value);
        break;
      }
      case ',':
        position++;
        expectKey = top?.kind === 'object';
        break;
      case ':':
        // Separates a key from its value; the key is already held by its object.
        position++;
        break;
      default: {
        const literal = ['true', 'false', 'null'].find((word) => text.startsWith(word, position));
        if (literal !== undefined) {
          position += literal.length;
          place(literal === 'null' ? null : literal === 'true');
          break;
        }
        NUMBER.lastIndex = position;
        if (!NUMBER.test(text)) fail('unexpected character');
        const number = text.slice(position, NUMBER.lastIndex);
        position = NUMBER.lastIndex;
        place(JavaNumber.fromJson(number));
      }
    }
  }
  if (!done || stack.length > 0) fail('the text ended early');
  return result;
}
