import { describe, expect, it } from 'vitest';
import { JavaNumber } from '../../../../runtime/src/partition/java.ts';
import { parseJavaJson } from '../../../../runtime/src/partition/json.ts';

/** The same value with every JavaNumber as `<Type>:<value>`, so a table can say what Jackson would hold. */
function typed(value: unknown): unknown {
  if (value instanceof JavaNumber) return `${value.type}:${String(value.value)}`;
  if (Array.isArray(value)) return value.map(typed);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typed(v)]));
  return value;
}

describe('parseJavaJson: JSON as Jackson reads it', () => {
  it.each([
    ['1', 'Integer:1'],
    ['1.0', 'Double:1'],
    ['-0', 'Integer:0'],
    ['1e2', 'Double:100'],
    ['3000000000', 'Long:3000000000'],
    ['9007199254740993', 'Long:9007199254740993'],
    ['99999999999999999999', 'BigInteger:99999999999999999999'],
    ['"a\\u00e9\\n"', 'a\u00e9\n'],
    ['true', true],
    ['null', null],
    [' { "a" : [ 1 , 2.5 , { } , [ ] ] , "b" : null } ', { a: ['Integer:1', 'Double:2.5', {}, []], b: null }],
    ['{"a": 1, "a": 2}', { a: 'Integer:2' }],
  ])('%s', (text, expected) => {
    expect(typed(parseJavaJson(text))).toEqual(expected);
  });

  it('keeps __proto__ an ordinary key, as JSON.parse does', () => {
    const value = parseJavaJson('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads deep nesting without running out of stack', () => {
    const depth = 200_000;
    let value = parseJavaJson(`${'['.repeat(depth)}7${']'.repeat(depth)}`);
    for (let i = 0; i < depth; i++) value = (value as unknown[])[0];
    expect(typed(value)).toBe('Integer:7');
  });

  it('reads 2 000 random JSON texts as JSON.parse does, numbers aside', () => {
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const strings = ['', 'a', 'é\u2028"\\/\b\f\n\r\t', '\u0000', '__proto__', 'x'.repeat(40)];
    const value = (depth: number): unknown => {
      const kind = next(depth > 4 ? 4 : 6);
      if (kind === 0) return strings[next(strings.length)];
      if (kind === 1) return [0, -1, 2.5, 1e21, -0.125, 3_000_000_000][next(6)];
      if (kind === 2) return [true, false, null][next(3)];
      if (kind === 3) return strings[next(strings.length)]!.length;
      if (kind === 4) return Array.from({ length: next(4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: next(4) }, () => [strings[next(strings.length)], value(depth + 1)]));
    };
    const plain = (v: unknown): unknown =>
      v instanceof JavaNumber ? Number(v.value) : Array.isArray(v) ? v.map(plain) : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
    for (let i = 0; i < 2_000; i++) {
      const text = JSON.stringify(value(0), null, next(3) === 0 ? '\t' : next(2) === 0 ? ' ' : undefined);
      expect(plain(parseJavaJson(` ${text}\r\n`))).toEqual(JSON.parse(text));
    }
  });

  it.each(['', '[1', '{"a" 1} 2', 'nope', '"open'])('refuses %j', (text) => {
    expect(() => parseJavaJson(text)).toThrow(/not JSON/);
  });
});
