/** Helpers of the runtime's integration tests: sidecars on real ports, push targets, SSE readers. */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { AppDeps } from '../../../runtime/src/app.ts';
import type { Tracer } from '../../../runtime/src/tracing/tracer.ts';
import { parseConfig } from '../../../runtime/src/config/load.ts';
import { startSidecar, type RunningSidecar } from '../../../runtime/src/server.ts';

export const silent = pino({ level: 'silent' });

/** A name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface SidecarOptions extends Pick<AppDeps, 'sharedBinders' | 'sendWaitMs' | 'timeouts'> {
  logger?: Logger;
  /** Push inputs to this port (`--app-port`); a Spring application.yml has no `app:` of its own. */
  appPort?: number;
  tracer?: Tracer;
}

/**
 * A sidecar on free ports from a bindery.yaml text (without `http:`, which is added), or from
 * a Spring Cloud Stream application.yml text as `bindery runtime --config application.yml`
 * reads it (its ports are given as flags would give them).
 */
export async function sidecarFrom(yaml: string, options: SidecarOptions = {}): Promise<RunningSidecar> {
  const { appPort, logger = silent, ...deps } = options;
  const spring = /^spring[.:]/m.test(yaml);
  const config = spring
    ? await parseConfig(yaml, 'application.yml', { overrides: { port: 0, opsPort: 0, ...(appPort !== undefined && { appPort }) } })
    : await parseConfig(`${yaml}\nhttp: { port: 0, opsPort: 0, opsHost: 127.0.0.1 }\n`, 'test.yaml', { overrides: appPort !== undefined ? { appPort } : {} });
  return startSidecar({ config, logger, ...deps });
}

/** A logger that keeps what it logs, for tests that assert what a sidecar said (and how often). */
export function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown> & { msg: string; level: number }> } {
  const lines: Array<Record<string, unknown> & { msg: string; level: number }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

import { waitFor } from '../../support/wait.ts';
export { waitFor };

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Pushed {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An app that receives pushes and answers with the statuses it is given (the last one repeats). */
export class PushTarget {
  readonly received: Pushed[] = [];
  statuses: number[] = [200];
  private constructor(private readonly server: Server) {}

  static async start(port = 0): Promise<PushTarget> {
    const server = createServer();
    const target = new PushTarget(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        target.received.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const status = target.statuses[Math.min(target.received.length - 1, target.statuses.length - 1)]!;
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return target;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  bodies(): string[] {
    return this.received.map((r) => r.body);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** One line of a batch push: the SSE event's data. */
export type BatchLine = SseEvent['data'];

/** One batch push as the app saw it: its lines, and when it came and was answered (ms since the epoch). */
export interface ReceivedBatch {
  lines: BatchLine[];
  contentType: string | undefined;
  started: number;
  answered: number;
}

/**
 * An app taking batch pushes: it reads the ndjson lines, waits `delayMs`, and answers each line
 * with the status `answer` gives it, as a `results` list (or a plain 200 when `plain`).
 */
export class BatchTarget {
  readonly batches: ReceivedBatch[] = [];
  answer: (line: BatchLine) => number = () => 200;
  delayMs = 0;
  plain = false;
  private open = 0;
  mostOpen = 0;
  private constructor(private readonly server: Server) {}

  static async start(): Promise<BatchTarget> {
    const server = createServer();
    const target = new BatchTarget(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      const started = Date.now();
      target.open++;
      target.mostOpen = Math.max(target.mostOpen, target.open);
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as BatchLine);
        setTimeout(() => {
          target.open--;
          target.batches.push({ lines, contentType: request.headers['content-type'], started, answered: Date.now() });
          if (target.plain) {
            response.writeHead(200).end();
            return;
          }
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: lines.map((line) => ({ statusCode: target.answer(line) })) }));
        }, target.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return target;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Every line received, in the order the app answered them. */
  lines(): BatchLine[] {
    return this.batches.flatMap((batch) => batch.lines);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/**
 * What the batch push suites share on each broker: sidecars (from `binders` plus the given
 * bindings) and apps that `cleanup` closes, inputs awaited until they consume, bulk sends of ids.
 */
export function batchPushSuite(binders: () => string) {
  const cleanups: Array<() => Promise<void>> = [];
  const suite = {
    /** Closed by `cleanup` (closing it earlier is harmless). */
    later(close: () => Promise<void>): void {
      cleanups.push(close);
    },
    async sidecar(yaml: string): Promise<RunningSidecar> {
      const running = await sidecarFrom(`${binders()}${yaml}`);
      suite.later(() => running.close());
      return running;
    },
    async app(): Promise<BatchTarget> {
      const target = await BatchTarget.start();
      suite.later(() => target.close());
      return target;
    },
    async consumingInput(running: RunningSidecar): Promise<void> {
      await waitFor('the input to consume', () => running.sidecar.bindings().find((b) => b.name === 'input')?.consuming === true, 30_000);
    },
    /** Sends `ids` in one bulk request on binding `output`, each `{ id }`, keyed by `partitionKey` when given. */
    async sendAll(output: RunningSidecar, ids: string[], partitionKey?: (id: string) => string): Promise<void> {
      const lines = ids.map((id) => JSON.stringify({ id, payload: { id }, ...(partitionKey && { partitionKey: partitionKey(id) }) }));
      const answer = await send(output, 'output', lines.join('\n'), { 'content-type': 'application/x-ndjson' });
      if (answer.status !== 200) throw new Error(`bulk send answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    },
    async cleanup(): Promise<void> {
      for (const close of cleanups.reverse()) await close().catch(() => undefined);
    },
  };
  return suite;
}

export interface SseEvent {
  id: string;
  event: string;
  data: { id: string; payload: unknown; contentType: string; headers: Record<string, string>; partition: number | null; attempt: number };
}

/** An SSE client that collects `message` events. */
export class SseReader {
  readonly events: SseEvent[] = [];
  status = 0;
  contentType = '';
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  static async open(url: string): Promise<SseReader> {
    const reader = new SseReader();
    const response = await fetch(url, { signal: reader.abort.signal, headers: { accept: 'text/event-stream' } });
    reader.status = response.status;
    reader.contentType = response.headers.get('content-type') ?? '';
    if (response.status !== 200 || !response.body) return reader;
    reader.done = reader.consume(response.body);
    return reader;
  }

  private async consume(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
          }
          if (fields.data !== undefined) {
            this.events.push({ id: fields.id ?? '', event: fields.event ?? 'message', data: JSON.parse(fields.data) as SseEvent['data'] });
          }
        }
      }
    } catch {
      // aborted by close()
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

export async function send(
  sidecar: RunningSidecar,
  binding: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${sidecar.apiUrl}/v1/send/${binding}`, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}

export async function post(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method: 'POST', headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}

/** Deletes the RabbitMQ queues and exchanges whose names start with `prefix` (test clean-up). */
export async function deleteRabbitObjects(prefix: string): Promise<void> {
  const { testEnv, managementApi } = await import('../../support/env.ts');
  const env = testEnv();
  const auth = Buffer.from(`${env.rabbitManagementUser}:${env.rabbitManagementPassword}`).toString('base64');
  for (const kind of ['queues', 'exchanges'] as const) {
    const objects = (await managementApi<Array<{ name: string; vhost: string }>>(`/${kind}`)) ?? [];
    for (const object of objects.filter((o) => o.name.startsWith(prefix))) {
      await fetch(`${env.rabbitManagementUrl}/api/${kind}/${encodeURIComponent(object.vhost)}/${encodeURIComponent(object.name)}`, {
        method: 'DELETE',
        headers: { authorization: `Basic ${auth}` },
      });
    }
  }
}

/** A port nothing listens on right now (for child processes that need fixed ports). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
