/** The tests' one polling loop: wait for a condition on a broker, an API server or a process. */

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Look again after this long (default 25 ms). */
  everyMs?: number;
  /** `retry` (default): a probe that throws is polled again, its last error reported on timeout. */
  errors?: 'retry' | 'throw';
}

/**
 * Polls `probe` until it gives a value other than undefined or false, and returns that value.
 * `options` may be just the timeout in ms.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions | number = {},
): Promise<T> {
  const { timeoutMs = 20_000, everyMs = 25, errors = 'retry' } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (errors === 'throw') throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const cause = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
