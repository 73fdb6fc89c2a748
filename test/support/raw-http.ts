/**
 * HTTP over a raw socket, for what fetch cannot send: malformed requests, oversized headers,
 * bodies that stop halfway. Reads until the server closes the connection (or answers a
 * complete response, or `timeoutMs` passes).
 */
import { connect } from 'node:net';

export interface RawResponse {
  /** 0 when nothing parsable came back. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (rather than the wait running out). */
  closed: boolean;
  /** Time from the first byte sent to the answer (or close), in ms. */
  elapsedMs: number;
}

export interface RawOptions {
  /** Give up waiting after this long (default 10 s). */
  timeoutMs?: number;
  /** Bytes sent later, each after its delay (ms): a slow client. */
  trickle?: Array<{ afterMs: number; bytes: string | Buffer }>;
}

export function rawRequest(url: string, bytes: string | Buffer, options: RawOptions = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    const socket = connect({ host: hostname, port: Number(port) });
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      for (const timer of timers) clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(chunks)), closed, elapsedMs: Date.now() - started });
    };
    socket.on('connect', () => {
      socket.write(bytes);
      for (const { afterMs, bytes: later } of options.trickle ?? []) {
        timers.push(setTimeout(() => socket.writable && socket.write(later), afterMs));
      }
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (isComplete(Buffer.concat(chunks))) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    timers.push(setTimeout(() => finish(false), timeoutMs));
  });
}

function isComplete(data: Buffer): boolean {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(data.subarray(0, end).toString('latin1'))?.[1];
  return length !== undefined && data.length >= end + 4 + Number(length);
}

function parseResponse(data: Buffer): Pick<RawResponse, 'status' | 'headers' | 'body'> {
  const text = data.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: end < 0 ? '' : text.slice(end + 4) };
}
