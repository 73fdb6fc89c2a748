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
 */

export type Root = 'payload' | 'headers';
type Step = string | number;

type Node =
  | { kind: 'literal'; value: string }
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
 * Deepest object or array a key may be. Printing a key is recursive, so a body nested
 * thousands of levels deep would overflow the stack; no sensible key is nested this deep.
 */
export const MAX_KEY_DEPTH = 64;

/** What an expression sees: the message's payload (a JSON value or a string) and headers. */
export interface ExpressionContext {
  payload: unknown;
  headers: Record<string, string>;
}

export interface CompiledExpression {
  readonly source: string;
  /** The key as a string, or undefined when the path does not exist in this message. */
  evaluate(context: ExpressionContext): string | undefined;
}

export function compileExpression(source: string): CompiledExpression {
  const node = new Parser(source).parseExpression();
  return { source, evaluate: (context) => keyString(evaluateNode(node, context)) };
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
    if (c !== undefined && /[0-9]/.test(c)) return { kind: 'literal', value: String(this.parseInteger()) };
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
      const parts = node.parts.map((part) => keyString(evaluateNode(part, context)));
      // SpEL prints a missing operand as "null"; a key that is half "null" would silently
      // put unrelated messages together, so a missing part makes the whole key missing.
      return parts.some((p) => p === undefined) ? undefined : parts.join('');
    }
  }
}

function property(value: unknown, step: Step): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof step === 'number') return Array.isArray(value) || typeof value === 'string' ? value[step] : undefined;
  if (typeof value !== 'object' || Array.isArray(value)) return undefined;
  // Own properties only: `payload.constructor` must not reach into the prototype chain.
  return Object.prototype.hasOwnProperty.call(value, step) ? (value as Record<string, unknown>)[step] : undefined;
}

/**
 * The key as Spring Cloud Stream's `toString()` of the evaluated value would print it, for
 * the values a JSON payload holds: integers without a fraction, doubles in Java's notation.
 */
export function keyString(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return javaNumberString(value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (nestedDeeperThan(value, MAX_KEY_DEPTH)) {
    throw new InvalidPartitionKeyError(`the partition key is an object or array nested deeper than ${MAX_KEY_DEPTH} levels`);
  }
  return JSON.stringify(value);
}

/** Whether `value` holds objects or arrays more than `limit` levels deep; walked without recursion. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Jackson reads a JSON integer as Integer/Long (printed without a fraction) and a JSON number
 * with a fraction or exponent as Double, which Java prints as "1.5", "1.0E7" or "1.0E-4".
 * JSON.parse loses that distinction, so integral values print as integers.
 */
function javaNumberString(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1e-3 && abs < 1e7) return String(n);
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
}
