/**
 * The floor of any HTTP sidecar: a bare `node:http` server in a process of its own that sends
 * each request's body with the broker's direct client (the bench's `DirectProducer`) and
 * answers 202 once the broker confirmed. No validation, no framework, no metrics, no logging:
 * what is left of the sidecar's overhead over the direct client is the second process and the
 * HTTP round trip. Measured in the same run as the sidecar, it tells which part of a missed
 * goal any HTTP sidecar on this machine would miss too.
 *
 * Run as a child process: `bare-proxy.ts <broker> <destination> <group>`; it tells its port to
 * the parent over IPC once the producer is ready.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { brokers } from './brokers.ts';
import { terminate } from './sidecar-process.ts';

export interface BareProxy {
  pid: number;
  send(payload: Buffer): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the proxy for `broker` (a name in brokers.ts) on `destination`, provisioning `group`. */
export async function startBareProxy(broker: string, destination: string, group: string): Promise<BareProxy> {
  // fork keeps this process's execArgv: the child loads TypeScript through tsx as the bench does.
  const child = fork(fileURLToPath(import.meta.url), [broker, destination, group], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve(Number(message)));
    child.once('exit', (code) => reject(new Error(`the bare proxy exited with ${code} before it was ready`)));
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 128, pipelining: 1 });
  return {
    pid: child.pid!,
    async send(payload) {
      const response = await pool.request({ method: 'POST', path: '/send', body: payload, headers: { 'content-type': 'application/json' } });
      const text = await response.body.text();
      if (response.statusCode !== 202) throw new Error(`the bare proxy answered ${response.statusCode}: ${text}`);
    },
    async stop() {
      await pool.close();
      await terminate(child);
    },
  };
}

async function serve(name: string, destination: string, group: string): Promise<void> {
  const create = brokers[name];
  if (create === undefined) throw new Error(`no broker named ${name}`);
  const broker = await create();
  const producer = await broker.producer(destination, [group]);
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      producer.send(Buffer.concat(chunks)).then(
        () => {
          response.writeHead(202, { 'content-type': 'application/json' });
          response.end('{"sent":true}');
        },
        (error: unknown) => {
          response.writeHead(503, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: (error as Error).message }));
        },
      );
    });
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
  process.once('SIGTERM', () => {
    server.close();
    void producer.close().then(() => broker.close()).finally(() => process.exit(0));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name = '', destination = '', group = ''] = process.argv.slice(2);
  await serve(name, destination, group);
}
