import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../operator/src/main.ts';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1.5s', 1500],
    ['1h', 3_600_000],
    ['45', 45_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '10 parsecs', '-1s'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow('not a duration');
  });
});
