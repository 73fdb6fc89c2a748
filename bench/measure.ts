/**
 * How the benches time things: operations at a fixed concurrency, in turn, and percentiles of
 * their durations. Shared by every bench (harness.ts, kafka-clients, tracing).
 */

export interface Percentiles {
  p50: number;
  p99: number;
}

/** A line of progress while a bench runs. */
export function progress(line: string): void {
  process.stdout.write(`  ${line}\n`);
}

/** Runs `total` operations with at most `inFlight` at once. */
export async function repeat(total: number, inFlight: number, operation: () => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started += 1;
      await operation();
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
}

/** `total` rounds of one call of each operation in turn; the durations (ms) per operation. */
export async function timeInTurn(total: number, operations: (() => Promise<void>)[]): Promise<number[][]> {
  const samples = operations.map((): number[] => []);
  for (let i = 0; i < total; i++) {
    for (const [index, operation] of operations.entries()) {
      const start = process.hrtime.bigint();
      await operation();
      samples[index]!.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    if ((i + 1) % 500 === 0) progress(`${i + 1} of ${total}`);
  }
  return samples;
}

export async function timed(work: () => Promise<void>): Promise<{ seconds: number }> {
  const start = process.hrtime.bigint();
  await work();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

