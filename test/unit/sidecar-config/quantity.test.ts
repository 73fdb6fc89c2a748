import { describe, expect, it } from 'vitest';
import { quantityBytes } from '../../../sidecar-config/quantity.ts';

describe('quantityBytes', () => {
  it.each([
    ['256Mi', 256 * 2 ** 20],
    ['0.5Gi', 2 ** 29],
    ['1Gi', 2 ** 30],
    ['64Ki', 65_536],
    ['512M', 512e6],
    ['1k', 1_000],
    ['1e9', 1e9],
    ['2E3', 2_000],
    ['268435456', 268_435_456],
    ['1.5', 2],
    ['.5Mi', 2 ** 19],
    [' 128Mi ', 128 * 2 ** 20],
  ])('%s is %d bytes', (quantity, bytes) => {
    expect(quantityBytes(quantity)).toBe(bytes);
  });

  it.each(['', 'Mi', '256MiB', '256mi', '-1Gi', '1.2.3', 'ten', '1e', '0x10'])('%j is not a quantity', (quantity) => {
    expect(quantityBytes(quantity)).toBeUndefined();
  });
});
