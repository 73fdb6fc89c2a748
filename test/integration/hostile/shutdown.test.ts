/**
 * SIGTERM ends `bindery runtime` in every state it can be in, within its limit: with a request
 * body still arriving, with an input retrying a declaration the broker refuses, with binders
 * that never connected; and when in-flight work does not finish, the hard limit ends it.
 */
import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { WATCHDOG_GRACE_MS } from '../../../runtime/src/shutdown.ts';
import { testEnv } from '../../support/env.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { ConfigFiles, exitWithin, processAnswers, runtimeProcess, type RuntimeProcess } from '../../support/runtime-process.ts';
import { deleteRabbitObjects, delay, freePort, unique, waitFor } from '../runtime/support.ts';

const prefix = unique('hostile-term');
const files = new ConfigFiles();
const running: RuntimeProcess[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const run of running) run.child.kill('SIGKILL');
  for (const server of servers) server.close();
  await files.removeAll();
  await deleteRabbitObjects(prefix);
});

/** Graceful shutdown of a sidecar with nothing left to finish takes well under this. */
const PROMPT_EXIT_MS = 5_000;

async function start(yaml: string, args: string[] = []): Promise<{ run: RuntimeProcess; port: number; opsPort: number }> {
  const [port, opsPort] = [await freePort(), await freePort()];
  const run = runtimeProcess(['--config', await files.write(yaml), '--port', String(port), '--ops-port', String(opsPort), '--no-watch', ...args]);
  running.push(run);
  await processAnswers(run, opsPort, 'healthz');
  return { run, port, opsPort };
}

/** A TCP port that accepts connections and never says a word: a broker that hangs. */
async function blackHole(): Promise<number> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => void sockets.push(socket));
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as { port: number }).port;
}

async function expectPromptExit(run: RuntimeProcess): Promise<void> {
  const started = Date.now();
  run.child.kill('SIGTERM');
  const code = await exitWithin(run, PROMPT_EXIT_MS);
  console.log(`${expect.getState().currentTestName}: exit ${code} ${Date.now() - started} ms after SIGTERM`);
  expect(code, `exit after ${Date.now() - started} ms; output:\n${run.output()}`).toBe(0);
}

describe('SIGTERM ends the sidecar promptly', () => {
  it('with a request body still arriving', async () => {
    const { run, port, opsPort } = await start(`binders: { m: { type: memory } }\nbindings: { out: { direction: output } }`);
    await processAnswers(run, opsPort);
    const open = rawRequest(`http://127.0.0.1:${port}`, 'POST /v1/send/out HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"half":', { timeoutMs: 20_000 });
    await delay(300);
    await expectPromptExit(run);
    expect((await open).closed).toBe(true);
  });

  it('with an input retrying a declaration the broker refuses (PRECONDITION_FAILED)', async () => {
    const destination = `${prefix}-declare`;
    const connection = await amqp.connect(testEnv().rabbitUrl);
    try {
      const channel = await connection.createChannel();
      await channel.assertExchange(destination, 'topic', { durable: true });
      // Declared without the dead-letter arguments the sidecar's input asks for.
      await channel.assertQueue(`${destination}.g`, { durable: true });
    } finally {
      await connection.close();
    }
    const { run } = await start(`binders: { r: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings: { in: { direction: input, destination: ${destination}, group: g, consumer: { deadLetter: true } } }
app: { port: ${await freePort()} }`);
    await waitFor('the declaration to be refused', () => /PRECONDITION_FAILED/.test(run.output()), 15_000);
    await expectPromptExit(run);
  });

  it.each([
    ['RabbitMQ on a port that refuses connections', async () => `{ type: rabbit, rabbit: { url: "amqp://guest:guest@127.0.0.1:${await freePort()}" } }`],
    ['RabbitMQ that accepts connections and never answers', async () => `{ type: rabbit, rabbit: { url: "amqp://guest:guest@127.0.0.1:${await blackHole()}" } }`],
    ['Kafka that accepts connections and never answers', async () => `{ type: kafka, kafka: { brokers: ["127.0.0.1:${await blackHole()}"] } }`],
  ])('with a binder that never connected: %s', async (_name, binder) => {
    const { run } = await start(`binders: { b: ${await binder()} }
bindings:
  out: { direction: output, destination: ${prefix}-never }
  in: { direction: input, destination: ${prefix}-never, group: g }
app: { port: ${await freePort()} }`);
    await delay(1_500);
    await expectPromptExit(run);
  });
});

describe('the limit', () => {
  it('ends a sidecar whose in-flight push never finishes at --shutdown-timeout, and the message goes back to the broker', async () => {
    const destination = `${prefix}-limit`;
    const pushed: string[] = [];
    // An app that takes every push and never answers.
    const app = createHttpServer((request) => void pushed.push(String(request.headers['x-msg-id'])));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    servers.push(app as unknown as Server);
    const appPort = (app.address() as { port: number }).port;
    const { run, port } = await start(`binders: { r: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings:
  out: { direction: output, destination: ${destination} }
  in: { direction: input, destination: ${destination}, group: g, consumer: { pushTimeout: 600000 } }
app: { port: ${appPort} }`, ['--shutdown-timeout', '3000']);
    await waitFor('the input to consume', async () => {
      const { bindings } = (await (await fetch(`http://127.0.0.1:${port}/v1/bindings`)).json()) as { bindings: Array<{ name: string; consuming?: boolean }> };
      return bindings.find((b) => b.name === 'in')?.consuming === true;
    }, 15_000);
    const answer = await fetch(`http://127.0.0.1:${port}/v1/send/out`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-msg-id': 'held' }, body: '1' });
    expect(answer.status).toBe(202);
    await waitFor('the push to be in flight', () => pushed.length === 1, 10_000);
    const started = Date.now();
    run.child.kill('SIGTERM');
    const code = await exitWithin(run, 8_000);
    const elapsed = Date.now() - started;
    console.log(`in-flight push never answered, --shutdown-timeout 3000: exit ${code} ${elapsed} ms after SIGTERM`);
    expect(code, run.output()).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(1_500);
    expect(elapsed).toBeLessThan(3_500);
    expect(run.output()).toContain('shutdown did not finish in-flight work in time');
    app.closeAllConnections();
    // Not acked: the broker has it for the next consumer.
    const connection = await amqp.connect(testEnv().rabbitUrl);
    try {
      const message = await waitFor('the message back in its queue', async () => (await (await connection.createChannel()).get(`${destination}.g`)) || undefined, 10_000);
      expect(message.properties.messageId).toBe('held');
    } finally {
      await connection.close();
    }
  });

  it('holds even when the event loop never comes back', async () => {
    const script = `
      import { armShutdownLimit } from ${JSON.stringify(join(import.meta.dirname, '../../../runtime/src/shutdown.ts'))};
      armShutdownLimit(500, () => console.log('limit'));
      process.stdout.write('armed\\n', () => { for (;;) {} });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '../../..') });
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Timed from the arming, not from the spawn: starting tsx takes seconds on a loaded machine.
    let started = Date.now();
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('armed')) started = Date.now();
    });
    // Should the watchdog fail, the test ends the child itself, with another signal.
    const guard = setTimeout(() => child.kill('SIGTERM'), 10_000);
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, killed) => resolve(killed)));
    clearTimeout(guard);
    expect(signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(500 + WATCHDOG_GRACE_MS + 2_000);
    expect(output).toContain('event loop stuck');
  });
});
