/** The tests' one polling loop: wait for a condition on a broker, an API server or a process. */

export interface PollOptions {
  timeoutMs?: number;
  everyMs?: number;
  /** `retry`: a probe that throws is polled again (its last error is reported on timeout). */
  errors?: 'retry' | 'throw';
}

/** Polls `probe` until it gives a value other than undefined or false, and returns that value. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, everyMs = 100, errors = 'retry' }: PollOptions = {},
): Promise<T> {
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
