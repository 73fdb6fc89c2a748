import { describe, expect, it } from 'vitest';
import { jsonSyntaxError } from '../../../../runtime/src/sidecar/json-check.ts';

/** JSON.parse's verdict on the bytes' UTF-8 decoding: the one the check must give. */
function parses(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

const CASES = [
  '0', '-0', '12', '-12.5e+3', '1E5', '1.5e-2', ' true ', 'false', 'null', '""', '"a\\"b\\\\c\\/\\b\\f\\n\\r\\t"', '"\\u00e9\\uD83D\\uDE00"',
  '{}', '[]', '[1,2,[3,{"a":[]}]]', '{"a":1,"b":{"c":[true,null]}}', ' \t\r\n{ "a" : 1 , "b" : [ ] }\n', '"é"', '"\u{1F600}"',
  '', ' ', '01', '-', '1.', '.5', '1e', '+1', '0x10', 'NaN', 'Infinity', 'tru', 'nul', 'truex', '"abc', '"a\u0001"', '"\\x"', '"\\u12g4"',
  '{', '}', '[', ']', '[1,]', '[,1]', '{"a":1,}', '{"a"}', '{a:1}', '{"a":1 "b":2}', '[1 2]', '1 2', '{"a":1}}', '[[]', '\uFEFF{}', "'a'", '{"a":1}x',
  '\u00a0{}', '{"a":01}', '[-]', '"\t"', '[1,2]]',
];

describe('jsonSyntaxError', () => {
  it.each(CASES)('%j: the verdict JSON.parse gives', (text) => {
    const bytes = Buffer.from(text);
    expect(jsonSyntaxError(bytes) === undefined).toBe(parses(bytes));
  });

  it('agrees with JSON.parse on random texts of JSON characters', () => {
    const alphabet = ['{', '}', '[', ']', ',', ':', '"', '\\', 'u', '0', '1', '-', '.', 'e', '+', ' ', 'a', 'true', 'null', '"k":', '\n'];
    let state = 12345;
    const next = (n: number): number => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state % n;
    };
    for (let round = 0; round < 20_000; round++) {
      const text = Array.from({ length: 1 + next(12) }, () => alphabet[next(alphabet.length)]).join('');
      const bytes = Buffer.from(text);
      expect(jsonSyntaxError(bytes) === undefined, text).toBe(parses(bytes));
    }
  });

  it('takes invalid UTF-8 inside strings, as the replacement characters JSON.parse reads', () => {
    expect(jsonSyntaxError(Buffer.from([0x22, 0xff, 0xfe, 0x22]))).toBeUndefined();
  });

  it('checks a body nested 200 000 levels deep without a stack, and says where an error is', () => {
    const depth = 200_000;
    expect(jsonSyntaxError(Buffer.from(`${'{"a":['.repeat(depth)}0${']}'.repeat(depth)}`))).toBeUndefined();
    expect(jsonSyntaxError(Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth - 1)}`))).toMatch(/^unexpected end of JSON/);
    expect(jsonSyntaxError(Buffer.from('{"a":1,}'))).toBe('expected a string key and a colon at position 7');
  });
});
