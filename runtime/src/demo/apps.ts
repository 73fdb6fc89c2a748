/**
 * The demo's applications: plain HTTP servers that know nothing of brokers, as the apps of
 * a Bindery pod. The provider sends through its sidecar's API; the consumers receive pushes.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { RunningSidecar } from '../server.ts';

export class ProviderApp {
  /** Every id this provider sent in this run. */
  readonly sent = new Set<string>();

  private constructor(
    private readonly server: Server,
    private readonly port: number,
    private readonly sidecar: RunningSidecar,
  ) {}

  /** `GET /sendMessage` sends a fresh UUID to the output binding and answers with it. */
  static async start(port: number, sidecar: RunningSidecar): Promise<ProviderApp> {
    let sent = 0;
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url !== '/sendMessage') {
        response.writeHead(404).end();
        return;
      }
      const uuid = randomUUID();
      // Keys "0" and "1" alternate between partitions 0 and 1 (Java's hash of "0" is 48), so a
      // partitioned destination spreads the demo's messages evenly over two consumers.
      const key = String(sent++ % 2);
      fetch(`${sidecar.apiUrl}/v1/send/output`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-partition-key': key },
        body: JSON.stringify(uuid),
      })
        .then(async (answer) => {
          const text = await answer.text();
          if (answer.status === 202) response.writeHead(200, { 'content-type': 'text/plain' }).end(uuid);
          else response.writeHead(502, { 'content-type': 'application/json' }).end(text);
        })
        .catch((error: Error) => response.writeHead(502).end(error.message));
    });
    await listen(server, port);
    return new ProviderApp(server, port, sidecar);
  }

  async sendOne(): Promise<string> {
    const answer = await fetch(`http://127.0.0.1:${this.port}/sendMessage`);
    const text = await answer.text();
    if (answer.status !== 200) throw new Error(`the provider could not send: HTTP ${answer.status} ${text}`);
    this.sent.add(text);
    return text;
  }

  async stop(): Promise<void> {
    await this.sidecar.close();
    await close(this.server);
  }
}

export class ConsumerApp {
  /** Every message id this app was pushed, in order, repeats included. */
  private readonly received: string[] = [];
  private server?: Server;
  private sidecar?: RunningSidecar;
  private group: string | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly startSidecar: (group: string | undefined) => Promise<RunningSidecar>,
    /** Whether this run sent the message: a durable queue on a real broker may hold older ones. */
    private readonly sentThisRun: (id: string) => boolean = () => true,
  ) {}

  get label(): string {
    return `${this.name} :${this.port}`;
  }

  /** Starts the app and its sidecar; resolves once the sidecar consumes. */
  async start(group: string | undefined): Promise<void> {
    this.group = group;
    this.server = createServer((request, response) => {
      readBody(request)
        .then((body) => {
          const payload = JSON.parse(body) as unknown;
          const id = String(payload);
          this.received.push(id);
          const who = this.group === undefined ? 'anonymous' : `group ${this.group}`;
          const note = this.sentThisRun(id) ? '' : ' (left over from an earlier run, not counted)';
          console.log(`   [${this.name}, ${who}] received ${JSON.stringify(payload)} on port ${this.port}${note}`);
          response.writeHead(200).end();
        })
        .catch(() => response.writeHead(400).end());
    });
    await listen(this.server, this.port);
    this.sidecar = await this.startSidecar(group);
    await this.untilConsuming(this.sidecar);
    console.log(`   ${this.label} started (${group === undefined ? 'anonymous consumer' : `group ${group}`})`);
  }

  async stop(): Promise<void> {
    const sidecar = this.sidecar;
    const server = this.server;
    this.sidecar = undefined;
    this.server = undefined;
    await sidecar?.close();
    if (server) await close(server);
  }

  async restart(group: string | undefined): Promise<void> {
    await this.stop();
    await this.start(group);
  }

  countOf(ids: string[]): number {
    return ids.filter((id) => this.received.includes(id)).length;
  }

  has(id: string): boolean {
    return this.received.includes(id);
  }

  /** How many extra copies of these ids this app got. */
  duplicatesIn(ids: string[]): number {
    return ids.reduce((extra, id) => extra + Math.max(0, this.received.filter((r) => r === id).length - 1), 0);
  }

  private async untilConsuming(sidecar: RunningSidecar): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!sidecar.sidecar.bindings().every((b) => b.direction !== 'input' || b.consuming)) {
      if (Date.now() > deadline) throw new Error(`${this.label}: the sidecar did not start consuming within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

export function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`port ${port} is in use; the demo needs ports 8801 to 8803`) : error),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
