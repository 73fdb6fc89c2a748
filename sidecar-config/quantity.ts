/**
 * Kubernetes memory quantities (`256Mi`, `0.5Gi`, `512M`, `1e9`, `268435456`) in bytes: the
 * webhook sizes the sidecar's heap by its container's memory limit.
 */
const SUFFIXES: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Bytes of a memory quantity, or undefined when it is not one. */
export function quantityBytes(quantity: string): number | undefined {
  const match = /^([+]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/.exec(quantity.trim());
  if (!match) return undefined;
  const [, number, exponent, suffix = ''] = match;
  const bytes = Number(number) * (exponent !== undefined ? 10 ** Number(exponent.slice(1)) : SUFFIXES[suffix]!);
  // Kubernetes rounds a fractional byte count up.
  return Number.isFinite(bytes) ? Math.ceil(bytes) : undefined;
}
