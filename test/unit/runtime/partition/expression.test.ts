import { describe, expect, it } from 'vitest';
import { checkedKey, compileExpression, ExpressionSyntaxError, InvalidPartitionKeyError } from '../../../../runtime/src/partition/expression.ts';
import { JavaNumber, javaString } from '../../../../runtime/src/partition/java.ts';
import { parseJavaJson } from '../../../../runtime/src/partition/json.ts';

const payload = {
  id: 'order-1',
  n: 42,
  'a-b': 'dashed',
  items: [{ sku: 'sku-1' }, { sku: 'sku-2' }],
  nested: { deep: { value: true } },
  empty: '',
};
const headers = { userId: 'user-7', 'x-tenant': 'acme' };

describe('partition key expressions', () => {
  it.each([
    ['payload.id', 'order-1'],
    ['payload.n', '42'],
    ["payload['a-b']", 'dashed'],
    ['payload["a-b"]', 'dashed'],
    ['payload.items[1].sku', 'sku-2'],
    ["payload['items'][0]['sku']", 'sku-1'],
    ['payload.nested.deep.value', 'true'],
    ['payload.empty', ''],
    ['headers.userId', 'user-7'],
    ["headers['x-tenant']", 'acme'],
    ["'fixed'", 'fixed'],
    ["'it''s'", "it's"],
    ["payload.id + ':' + headers.userId", 'order-1:user-7'],
    ['  payload . id  ', 'order-1'],
    ['payload.items[0]', '{sku=sku-1}'],
    ['payload.n + 1', '43'],
    ["payload.n + '-' + 1", '42-1'],
    ["'#' + payload.n + 1", '#421'],
  ])('%s -> %s (as Java prints the value)', (source, expected) => {
    expect(javaString(compileExpression(source).evaluate({ payload, headers }))).toBe(expected);
  });

  it.each([
    ['payload.id', '{"id": 7}', 'Integer', '7'],
    ['payload.id', '{"id": 7.0}', 'Double', '7'],
    ['payload.id', '{"id": 3000000000}', 'Long', '3000000000'],
    ['payload.id + 1', '{"id": 2147483647}', 'Integer', '-2147483648'],
    ['payload.id + 1', '{"id": 2147483648}', 'Long', '2147483649'],
    ['payload.id + 1', '{"id": 0.5}', 'Double', '1.5'],
    ['payload.a + payload.b', '{"a": 1, "b": 2.5}', 'Double', '3.5'],
    ['payload.a + payload.b', '{"a": 9223372036854775807, "b": 1}', 'Long', '-9223372036854775808'],
    ['payload.a + payload.b', '{"a": 9223372036854775808, "b": 1}', 'BigInteger', '9223372036854775809'],
  ])('%s over %s is a Java %s (%s), as SpEL evaluates it', (source, json, type, value) => {
    const result = compileExpression(source).evaluate({ payload: parseJavaJson(json), headers: {} });
    expect(result).toBeInstanceOf(JavaNumber);
    expect([(result as JavaNumber).type, String((result as JavaNumber).value)]).toEqual([type, value]);
  });

  it('keeps booleans and strings as they are', () => {
    const parsed = parseJavaJson('{"flag": true, "name": "42"}');
    expect(compileExpression('payload.flag').evaluate({ payload: parsed, headers: {} })).toBe(true);
    expect(compileExpression('payload.name').evaluate({ payload: parsed, headers: {} })).toBe('42');
  });

  it.each([
    ['payload.missing'],
    ['payload.items[5].sku'],
    ['payload.id.length'],
    ['payload.constructor'],
    ['payload.__proto__'],
    ['headers.toString'],
    ['headers.absent'],
  ])('%s finds no key', (source) => {
    expect(compileExpression(source).evaluate({ payload, headers })).toBeUndefined();
  });

  it('reads a text payload as a string', () => {
    expect(compileExpression('payload').evaluate({ payload: 'hello', headers: {} })).toBe('hello');
    expect(compileExpression('payload[1]').evaluate({ payload: 'hello', headers: {} })).toBe('e');
  });

  it.each([
    ['', 0, 'empty expression'],
    ['   ', 3, 'empty expression'],
    ['id', 0, 'unknown name "id" (an expression starts with payload or headers)'],
    ['payload.', 8, 'expected a property name'],
    ['payload.1', 8, 'expected a property name'],
    ["payload['a'", 11, 'expected "]" but the expression ended'],
    ["payload['a", 8, 'unterminated string'],
    ['payload[x]', 8, 'expected a string or an index'],
    ['payload.id +', 12, 'expected a value but the expression ended'],
    ['payload.id - 1', 11, 'unexpected "-"'],
    ['T(java.lang.Runtime).getRuntime()', 0, 'unknown name "T"'],
    ['payload.id()', 10, 'unexpected "("'],
    ['#root.payload', 0, 'unexpected "#"'],
  ])('refuses %j at position %i: %s', (source, position, problem) => {
    let error: unknown;
    try {
      compileExpression(source);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ExpressionSyntaxError);
    expect(error).toMatchObject({ position });
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).toContain(`at position ${position} of partition key expression "${source}"`);
  });

  it.each([
    [42, '42'],
    [-7, '-7'],
    [0, '0'],
    [1.5, '1.5'],
    [0.001, '0.001'],
    [1e21, '1.0E21'],
    [1.5e-7, '1.5E-7'],
    [12345678.5, '1.23456785E7'],
    [JavaNumber.fromJson('7.0'), '7.0'],
    [JavaNumber.fromJson('-0.0'), '-0.0'],
    [JavaNumber.fromJson('1e3'), '1000.0'],
    [JavaNumber.fromJson('12345678901234567890'), '12345678901234567890'],
    [true, 'true'],
    [null, 'null'],
    ['', ''],
    [[1, 'a'], '[1, a]'],
  ])('javaString(%s) = %j, as Java prints it', (value, expected) => {
    expect(javaString(value)).toBe(expected);
  });
});

describe('how deep a partition key may be nested', () => {
  const evaluate = compileExpression('payload.key');
  const key = (depth: number, array: boolean) =>
    parseJavaJson(`{"key":${array ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`}}`);
  it.each([true, false])('64 levels of objects or arrays are a key, a number at the bottom included (arrays: %s)', (array) => {
    expect(() => checkedKey(evaluate.evaluate({ payload: key(64, array), headers: {} }))).not.toThrow();
  });
  it.each([true, false])('65 levels are refused with InvalidPartitionKeyError (arrays: %s)', (array) => {
    expect(() => checkedKey(evaluate.evaluate({ payload: key(65, array), headers: {} }))).toThrow(InvalidPartitionKeyError);
  });
});
