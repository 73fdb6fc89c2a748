/**
 * The app behind the sidecar in the push benches, and how arrivals are timed: the same counters
 * serve the direct consumers, so both sides of a ratio are timed alike.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The app: counts single pushes, and the lines of batch pushes (ndjson), answering each with a plain 200. */
export async function pushReceiver(): Promise<{ port: number; single: Arrivals; batched: Arrivals; readonly batches: number; close(): Promise<void> }> {
  let batches = 0;
  const receiver = {
    port: 0,
    single: new Arrivals(Number.POSITIVE_INFINITY),
    batched: new Arrivals(Number.POSITIVE_INFINITY),
    get batches() {
      return batches;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((request, response) => {
    const batch = request.headers['content-type'] === 'application/x-ndjson';
    let lines = 0;
    request.on('data', (chunk: Buffer) => {
      if (batch) for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines += 1;
    });
    request.on('end', () => {
      if (batch) {
        batches += 1;
        receiver.batched.add(lines);
      } else {
        receiver.single.add(1);
      }
      response.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  return receiver;
}

/**
 * Messages counted as they arrive, from the moment their consumer is started to the arrival
 * that completed `target`. One arriving before the start is an error: the rate would flatter.
 */
export class Arrivals {
  private count = 0;
  private startedAt: bigint | undefined;
  private lastAt: bigint | undefined;
  private settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  readonly done: Promise<void>;

  constructor(private readonly target: number) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.done.catch(() => undefined);
  }

  start(): void {
    this.startedAt = process.hrtime.bigint();
    setTimeout(() => this.settle?.reject(new Error(`timed out waiting for ${this.target} messages (${this.count} came)`)), 120_000).unref();
  }

  add(n: number): void {
    if (this.startedAt === undefined) {
      this.settle?.reject(new Error('a message arrived before its consumer was started'));
      return;
    }
    this.count += n;
    if (this.lastAt === undefined && this.count >= this.target) {
      this.lastAt = process.hrtime.bigint();
      this.settle?.resolve();
    }
  }

  rate(): number {
    return this.target / (Number((this.lastAt ?? 0n) - (this.startedAt ?? 0n)) / 1e9);
  }
}
