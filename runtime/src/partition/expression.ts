/**
 * The partition key expression language: the subset of SpEL that Spring Cloud Stream users
 * write in `partition-key-expression`, parsed into a small tree and evaluated without eval or
 * Function, so a config file can never run code in the sidecar.
 *
 *   expression := term ('+' term)*
 *   term       := string | integer | path
 *   path       := ('payload' | 'headers') ( '.' name | '[' (string | integer) ']' )*
 *
 * Examples: `payload.id`, `payload['a-b']`, `headers.userId`, `headers['x-user']`,
 * `payload.items[0].sku`, `payload.region + '-' + payload.id`.
 *
 * A result is the value itself, typed as the Java object SpEL would hold (java.ts): `+` adds
 * two numbers and concatenates anything else, as SpEL's does.
 */
import { javaPlus, JavaNumber } from './java.ts';

export type Root = 'payload' | 'headers';
type Step = string | number;

type Node =
  | { kind: 'literal'; value: string | JavaNumber }
  | { kind: 'path'; root: Root; steps: Step[] }
  | { kind: 'concat'; parts: Node[] };

/** A malformed expression; `position` is the 0-based character offset where parsing stopped. */
export class ExpressionSyntaxError extends Error {
  override readonly name = 'ExpressionSyntaxError';
  constructor(
    readonly expression: string,
    readonly position: number,
    problem: string,
  ) {
    super(`${problem} at position ${position} of partition key expression "${expression}"`);
  }
}

/** A key the expression found but that cannot be a key: an object or array nested too deep. */
export class InvalidPartitionKeyError extends Error {
  override readonly name = 'InvalidPartitionKeyError';
}

/**
 * Deepest object or array a key may be. Hashing and printing a key are recursive, so a body
 * nested thousands of levels deep would overflow the stack; no sensible key is nested this deep.
 */
export const MAX_KEY_DEPTH = 64;

/** What an expression sees: the message's payload (a JSON value or a string) and headers. */
export interface ExpressionContext {
  payload: unknown;
  headers: Record<string, string>;
}

export interface CompiledExpression {
  readonly source: string;
  /**
   * The key: a string, boolean, JavaNumber, list or map (as java.ts hashes them), or
   * undefined when the path does not exist in this message or holds null.
   */
  evaluate(context: ExpressionContext): unknown;
}

export function compileExpression(source: string): CompiledExpression {
  const node = new Parser(source).parseExpression();
  return { source, evaluate: (context) => evaluateNode(node, context) ?? undefined };
}

const ROOTS: readonly string[] = ['payload', 'headers'];

class Parser {
  private pos = 0;

  constructor(private readonly src: string) {}

  parseExpression(): Node {
    this.skipSpace();
    if (this.atEnd()) this.fail('empty expression');
    const parts = [this.parseTerm()];
    this.skipSpace();
    while (this.peek() === '+') {
      this.pos++;
      this.skipSpace();
      parts.push(this.parseTerm());
      this.skipSpace();
    }
    if (!this.atEnd()) this.fail(`unexpected "${this.peek()}"`);
    return parts.length === 1 ? parts[0]! : { kind: 'concat', parts };
  }

  private parseTerm(): Node {
    const c = this.peek();
    if (c === "'" || c === '"') return { kind: 'literal', value: this.parseString() };
    if (c !== undefined && /[0-9]/.test(c)) return { kind: 'literal', value: JavaNumber.fromJs(this.parseInteger()) };
    if (c !== undefined && /[A-Za-z_$]/.test(c)) return this.parsePath();
    return this.fail(c === undefined ? 'expected a value but the expression ended' : `unexpected "${c}"`);
  }

  private parsePath(): Node {
    const start = this.pos;
    const root = this.parseName();
    if (!ROOTS.includes(root)) {
      this.pos = start;
      this.fail(`unknown name "${root}" (an expression starts with payload or headers)`);
    }
    const steps: Step[] = [];
    for (;;) {
      this.skipSpace();
      const c = this.peek();
      if (c === '.') {
        this.pos++;
        this.skipSpace();
        steps.push(this.parseName());
      } else if (c === '[') {
        this.pos++;
        this.skipSpace();
        const q = this.peek();
        steps.push(q === "'" || q === '"' ? this.parseString() : this.parseInteger());
        this.skipSpace();
        this.expect(']');
      } else {
        return { kind: 'path', root: root as Root, steps };
      }
    }
  }

  private parseName(): string {
    const match = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(this.src.slice(this.pos));
    if (!match) return this.fail('expected a property name');
    this.pos += match[0].length;
    return match[0];
  }

  private parseInteger(): number {
    const match = /^[0-9]+/.exec(this.src.slice(this.pos));
    if (!match) return this.fail('expected a string or an index');
    this.pos += match[0].length;
    return Number(match[0]);
  }

  /** SpEL quoting: the quote character is escaped by doubling it ('it''s'). */
  private parseString(): string {
    const quote = this.src[this.pos]!;
    const start = this.pos;
    this.pos++;
    let value = '';
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) {
        this.pos = start;
        return this.fail('unterminated string');
      }
      this.pos++;
      if (c !== quote) {
        value += c;
      } else if (this.src[this.pos] === quote) {
        value += quote;
        this.pos++;
      } else {
        return value;
      }
    }
  }

  private expect(c: string): void {
    if (this.peek() !== c) this.fail(this.atEnd() ? `expected "${c}" but the expression ended` : `expected "${c}"`);
    this.pos++;
  }

  private skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  private fail(problem: string): never {
    throw new ExpressionSyntaxError(this.src, this.pos, problem);
  }
}

function evaluateNode(node: Node, context: ExpressionContext): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'path': {
      let value: unknown = node.root === 'payload' ? context.payload : context.headers;
      for (const step of node.steps) value = property(value, step);
      return value;
    }
    case 'concat': {
      const parts = node.parts.map((part) => evaluateNode(part, context));
      // SpEL prints a missing operand as "null"; a key that is half "null" would silently
      // put unrelated messages together, so a missing part makes the whole key missing.
      return parts.some((p) => p === undefined || p === null) ? undefined : parts.reduce(javaPlus);
    }
  }
}

function property(value: unknown, step: Step): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof step === 'number') return Array.isArray(value) || typeof value === 'string' ? value[step] : undefined;
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof JavaNumber) return undefined;
  // Own properties only: `payload.constructor` must not reach into the prototype chain.
  return Object.prototype.hasOwnProperty.call(value, step) ? (value as Record<string, unknown>)[step] : undefined;
}

/**
 * The value an expression found, refused when it is an object or array nested deeper than
 * MAX_KEY_DEPTH: hashing and printing a key (java.ts) recurse into it.
 */
export function checkedKey<T>(value: T): T {
  if (isNesting(value) && nestedDeeperThan(value, MAX_KEY_DEPTH)) {
    throw new InvalidPartitionKeyError(`the partition key is an object or array nested deeper than ${MAX_KEY_DEPTH} levels`);
  }
  return value;
}

/** An object or array; a JSON number read with its Java type (JavaNumber) is a leaf, not a level. */
function isNesting(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !(value instanceof JavaNumber);
}

/** Whether `value` holds objects or arrays more than `limit` levels deep; walked without recursion. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (!isNesting(current)) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) if (isNesting(child)) stack.push([child, depth + 1]);
  }
  return false;
}
