import { describe, expect, it } from 'vitest';
import { compileExpression, ExpressionSyntaxError, keyString } from '../../../../runtime/src/partition/expression.ts';

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
    ['payload.items[0]', '{"sku":"sku-1"}'],
    ['payload.n + 1', '421'],
  ])('%s -> %s', (source, expected) => {
    expect(compileExpression(source).evaluate({ payload, headers })).toBe(expected);
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
    [true, 'true'],
    [null, undefined],
    [undefined, undefined],
    ['', ''],
  ])('keyString(%j) = %j, as Java prints it', (value, expected) => {
    expect(keyString(value)).toBe(expected);
  });
});
