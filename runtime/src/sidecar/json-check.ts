/**
 * Whether bytes are one JSON text (RFC 8259), as JSON.parse would judge their UTF-8 decoding,
 * without building the value. Sends and deliveries only need the verdict: JSON.parse made
 * every object of the body only to drop it, and a body nested a hundred thousand levels deep
 * was millions of bytes of heap per check, enough to grow the heap for good after a burst of
 * them. This reads the bytes once, keeps one bit per open container, and allocates nothing
 * else.
 */

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
/** The characters a backslash may escape: " \ / b f n r t (and u, read apart). */
const ESCAPES = new Set([QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

/*
 * The reader's state lives in the module rather than in closures of the call: a check runs
 * on every JSON send, and the closures were most of what it allocated. Checks never
 * interleave (they are synchronous), so one state serves all.
 */
let bytes: Uint8Array = new Uint8Array(0);
let i = 0;
/** One bit per open container, 1 for an object: 32 levels per number. */
let open: number[] = [];

/** Undefined for valid JSON; else what is wrong and where (a byte offset). */
export function jsonSyntaxError(input: Uint8Array): string | undefined {
  bytes = input;
  i = 0;
  try {
    return check();
  } finally {
    // The body is not held on to past its check, nor the stack of a very deep one; a bit
    // left from an earlier check is always set again before it is read.
    bytes = EMPTY;
    if (open.length > 32) open = [];
  }
}

const EMPTY = new Uint8Array(0);

function check(): string | undefined {
  let depth = 0;
  for (;;) {
    // A value.
    skipSpace();
    const c = bytes[i];
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const word = depth >>> 5;
      open[word] = c === OPEN_OBJECT ? (open[word] ?? 0) | (1 << (depth & 31)) : (open[word] ?? 0) & ~(1 << (depth & 31));
      depth++;
      i++;
      skipSpace();
      if (bytes[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++;
        depth--;
      } else {
        if (c === OPEN_OBJECT && !key()) return fail('expected a string key and a colon');
        continue;
      }
    } else if (c === QUOTE) {
      if (!string()) return fail('invalid string');
    } else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) {
      if (!number()) return fail('invalid number');
    } else if (!literal()) {
      return fail('expected a JSON value');
    }
    // What may follow a value: the end of its containers, or a comma and the next one.
    for (;;) {
      skipSpace();
      if (depth === 0) return i === bytes.length ? undefined : fail('unexpected data after the JSON value');
      const inObject = isObject(depth - 1);
      if (bytes[i] === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++;
        depth--;
        continue;
      }
      if (bytes[i] !== COMMA) return fail(`expected ',' or '${inObject ? '}' : ']'}'`);
      i++;
      if (inObject && !key()) return fail('expected a string key and a colon');
      break;
    }
  }
}

function fail(what: string): string {
  return i >= bytes.length ? `unexpected end of JSON (${what})` : `${what} at position ${i}`;
}

function isObject(level: number): boolean {
  return ((open[level >>> 5]! >>> (level & 31)) & 1) === 1;
}

function skipSpace(): void {
  while (i < bytes.length) {
    const c = bytes[i];
    if (c !== SPACE && c !== TAB && c !== LF && c !== CR) return;
    i++;
  }
}

/** A key and its colon; false when they are not there. */
function key(): boolean {
  skipSpace();
  if (bytes[i] !== QUOTE || !string()) return false;
  skipSpace();
  if (bytes[i] !== COLON) return false;
  i++;
  return true;
}

function string(): boolean {
  for (i++; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      i++;
      return true;
    }
    if (c < SPACE) return false;
    if (c === BACKSLASH) {
      const escaped = bytes[++i];
      if (escaped === 0x75) {
        for (let k = 0; k < 4; k++) if (!isHex(bytes[++i])) return false;
      } else if (escaped === undefined || !ESCAPES.has(escaped)) {
        return false;
      }
    }
  }
  return false;
}

function digits(): boolean {
  const start = i;
  while (i < bytes.length && bytes[i]! >= ZERO && bytes[i]! <= NINE) i++;
  return i > start;
}

function number(): boolean {
  if (bytes[i] === MINUS) i++;
  if (bytes[i] === ZERO) i++;
  else if (!digits()) return false;
  if (bytes[i] === DOT) {
    i++;
    if (!digits()) return false;
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++;
    if (bytes[i] === PLUS || bytes[i] === MINUS) i++;
    if (!digits()) return false;
  }
  return true;
}

function literal(): boolean {
  const c = bytes[i];
  const word = c === LITERALS[0]![0] ? LITERALS[0]! : c === LITERALS[1]![0] ? LITERALS[1]! : c === LITERALS[2]![0] ? LITERALS[2]! : undefined;
  if (word === undefined || i + word.length > bytes.length) return false;
  for (let k = 1; k < word.length; k++) if (bytes[i + k] !== word[k]) return false;
  i += word.length;
  return true;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}
