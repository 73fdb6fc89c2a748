import { describe, expect, it } from 'vitest';
import { shownLag } from '../../../../operator/src/controller/lag.ts';

describe('shownLag', () => {
  it.each([
    { case: 'nothing shown yet: the reading', shown: undefined, reading: 3, expected: 3 },
    { case: 'nothing shown yet, caught up', shown: undefined, reading: 0, expected: 0 },
    { case: 'caught up is always shown', shown: 4, reading: 0, expected: 0 },
    { case: 'a backlog appears from 0', shown: 0, reading: 20, expected: 20 },
    { case: 'a few messages after 0 are not written', shown: 0, reading: 9, expected: 0 },
    { case: 'exactly the minimum change', shown: 0, reading: 10, expected: 10 },
    { case: 'a move below 10 messages', shown: 50, reading: 59, expected: 50 },
    { case: 'a move of 10 messages and 10 %', shown: 50, reading: 60, expected: 60 },
    { case: 'a fall of 10 messages and 10 %', shown: 50, reading: 40, expected: 40 },
    { case: 'a move of more than 10 messages but below 10 %', shown: 1_000, reading: 1_050, expected: 1_000 },
    { case: 'a move of 10 %', shown: 1_000, reading: 1_100, expected: 1_100 },
    { case: 'the same reading', shown: 42, reading: 42, expected: 42 },
  ])('$case: shown $shown, read $reading -> $expected', ({ shown, reading, expected }) => {
    expect(shownLag(shown, reading)).toBe(expected);
  });
});
