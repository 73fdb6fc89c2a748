/**
 * The two ends of a fault scenario's traffic: a sender that keeps posting numbered messages
 * to a sidecar's output and tallies every answer, and the app process the sidecar pushes to,
 * which says which ids it received (and can be killed and started again on the same port).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

/** When something happened, in ms since the epoch. */
type At = number;

/** The longest time without a success from `from` to `to`, given the success times (sorted). */
export function longestGap(times: At[], from: At, to: At): number {
  let longest = 0;
  let last = from;
  for (const at of times) {
    if (at < from) continue;
    if (at > to) break;
    longest = Math.max(longest, at - last);
    last = at;
  }
  return Math.max(longest, to - last);
}

/**
 * Posts `{"n": i}` with `x-msg-id: <prefix>-<i>` to `/v1/send/<binding>`, `concurrency` at a
 * time, until stopped. An answer other than 202 is counted by its status; a request that got no
 * answer at all by what happened to it (`conn`, `timeout`).
 */
export class Sender {
  readonly accepted = new Set<string>();
  /** Answer times of the 202s, in order. */
  readonly acceptedAt: At[] = [];
  readonly refused = new Map<string, number>();
  sent = 0;
  private next = 0;
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(private readonly apiUrl: string, private readonly binding: string, private readonly prefix: string, private readonly concurrency: number) {}

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.concurrency }, () => this.work());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    while (this.running) {
      const id = `${this.prefix}-${this.next}`;
      const body = JSON.stringify({ n: this.next++ });
      this.sent++;
      const outcome = await fetch(`${this.apiUrl}/v1/send/${this.binding}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-msg-id': id },
        body,
        signal: AbortSignal.timeout(30_000),
      }).then(
        async (response) => {
          await response.arrayBuffer();
          return String(response.status);
        },
        (error: Error & { cause?: { code?: string } }) => (error.name === 'TimeoutError' ? 'timeout' : `conn ${error.cause?.code ?? error.message}`.trim()),
      );
      if (outcome === '202') {
        this.accepted.add(id);
        this.acceptedAt.push(Date.now());
        continue;
      }
      const kind = outcome.startsWith('conn') ? 'conn' : outcome;
      this.refused.set(kind, (this.refused.get(kind) ?? 0) + 1);
      // Refused at once (a sidecar down, a 503): no point in spinning; a real client backs off too.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** `test/chaos/app.ts` as a child process: the ids it received, how often, and when. */
export class AppProcess {
  readonly received = new Map<string, number>();
  /** Receipt times, in order. */
  readonly receivedAt: At[] = [];
  receipts = 0;
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  /** Starts the app; resolves once it listens. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/chaos/app.ts', String(this.port)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    let pending = '';
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the chaos app exited (${code}) before it listened on ${this.port}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        const lines = (pending + chunk.toString()).split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (line === 'listening') {
            resolve();
            continue;
          }
          this.receipts++;
          this.receivedAt.push(Date.now());
          this.received.set(line, (this.received.get(line) ?? 0) + 1);
        }
      });
    });
  }

  /** `kill -9`: pushes in flight get a reset connection, as when an app crashes. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  get duplicates(): number {
    return this.receipts - this.received.size;
  }
}
