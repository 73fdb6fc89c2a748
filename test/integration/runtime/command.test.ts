/**
 * `bindery runtime` as a process: flags, start-up errors, reloading its config file, and
 * SIGTERM (refuse sends, finish in-flight work, give unsettled messages back, exit 0).
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';
import { ConfigFiles, processAnswers, runtimeProcess as runtime, type RuntimeProcess } from '../../support/runtime-process.ts';
import { PushTarget, deleteRabbitObjects, freePort, send, sidecarFrom, unique, waitFor } from './support.ts';

const prefix = unique('cmd');
const files = new ConfigFiles();
const configFile = (text: string) => files.write(text);
const ready = (opsPort: number, run: RuntimeProcess) => processAnswers(run, opsPort);
afterAll(async () => {
  await deleteRabbitObjects(prefix);
  await files.removeAll();
});

describe('bindery runtime', () => {
  it.concurrent('prints its help', async () => {
    const run = runtime(['--help']);
    expect(await run.exit).toBe(0);
    expect(run.output()).toContain('Usage: bindery runtime --config FILE');
  });

  it.concurrent.each([
    ['bindings: { in: { direction: input, consumer: { maxAttempts: 0 } } }\nbinders: { m: { type: memory } }', 'bindings.in.consumer.maxAttempts: must be an integer >= 1'],
    ['binders: { r: { type: rabbit, rabbit: { url: "${NOT_SET_ANYWHERE}" } } }', 'environment variable NOT_SET_ANYWHERE is not set'],
    ['binders:\n  r: { type: rabbit, rabbit: { url: "amqp://admin:s3cr3t-pw@rabbit:5672 } }\n', 'not valid YAML at line 3, column 1'],
  ])('refuses to start on a bad config, naming the key, and never printing a password', async (text, message) => {
    const run = runtime(['--config', await configFile(text)]);
    expect(await run.exit).toBe(1);
    expect(run.output()).toContain(message);
    expect(run.output()).not.toContain('s3cr3t-pw');
  });

  it('reloads its config file: a binding moves from memory to RabbitMQ without a restart', async () => {
    const destination = unique(`${prefix}-watch`);
    const [port, opsPort] = [await freePort(), await freePort()];
    const text = (binder: string) => `binders:
  mem: { type: memory }
  rabbit: { type: rabbit, rabbit: { url: "\${TEST_RABBIT_URL}" } }
bindings: { out: { direction: output, destination: ${destination}, binder: ${binder} } }
`;
    const file = await configFile(text('mem'));
    const run = runtime(['--config', file, '--port', String(port), '--ops-port', String(opsPort)], { TEST_RABBIT_URL: testEnv().rabbitUrl });
    try {
      await ready(opsPort, run);
      const before = await (await fetch(`http://127.0.0.1:${port}/v1/send/out`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '1' })).json();
      expect(before).toMatchObject({ binder: 'mem' });
      await writeFile(file, text('rabbit'));
      await waitFor('the binding to move', async () => {
        const { bindings } = (await (await fetch(`http://127.0.0.1:${port}/v1/bindings`)).json()) as { bindings: Array<{ binder: string }> };
        return bindings[0]!.binder === 'rabbit';
      }, 15_000);
      const after = await (await fetch(`http://127.0.0.1:${port}/v1/send/out`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '2' })).json();
      expect(after).toMatchObject({ binder: 'rabbit', destination });
      expect(run.output()).not.toContain('guest:guest');
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
    }
  });

  it('on SIGTERM refuses sends, finishes the push in flight, gives the rest back to RabbitMQ and exits 0', async () => {
    const destination = unique(`${prefix}-term`);
    // The app holds each push for a while, so SIGTERM arrives with one in flight.
    const pushed: string[] = [];
    const app = createServer((request, response) => {
      pushed.push(String(request.headers['x-msg-id']));
      request.resume();
      setTimeout(() => response.writeHead(200).end(), 1500);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as { port: number }).port;
    const [port, opsPort] = [await freePort(), await freePort()];
    const file = await configFile(`binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings:
  out: { direction: output, destination: ${destination} }
  in: { direction: input, destination: ${destination}, group: g, consumer: { concurrency: 1 } }
`);
    const run = runtime(['--config', file, '--port', String(port), '--ops-port', String(opsPort), '--app-port', String(appPort)]);
    try {
      await ready(opsPort, run);
      await waitFor('the input to consume', async () => {
        const { bindings } = (await (await fetch(`http://127.0.0.1:${port}/v1/bindings`)).json()) as { bindings: Array<{ name: string; consuming?: boolean }> };
        return bindings.find((b) => b.name === 'in')!.consuming === true;
      }, 15_000);
      for (const id of ['t-1', 't-2', 't-3']) {
        const answer = await fetch(`http://127.0.0.1:${port}/v1/send/out`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-msg-id': id }, body: '"x"' });
        expect(answer.status).toBe(202);
      }
      await waitFor('the first push', () => pushed.length === 1, 10_000);
      run.child.kill('SIGTERM');
      await waitFor('the shutdown to begin', () => run.output().includes('shutting down'), 5_000);
      const refused = await fetch(`http://127.0.0.1:${port}/v1/send/out`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"late"' });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('BINDERY_ERR_BINDER_UNAVAILABLE');
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await run.exit).toBe(0);
      expect(pushed).toEqual(['t-1']);
    } finally {
      run.child.kill('SIGKILL');
      await new Promise((resolve) => app.close(resolve));
    }
    // t-1 was acked when its push finished; t-2 and t-3 went back to the queue.
    const target = await PushTarget.start();
    const next = await sidecarFrom(`binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings: { in: { direction: input, destination: ${destination}, group: g } }
app: { port: ${target.port} }`);
    try {
      await waitFor('the returned messages', () => target.received.length >= 2, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(target.received.map((r) => r.headers['x-msg-id']).sort()).toEqual(['t-2', 't-3']);
    } finally {
      await next.close();
      await target.close();
    }
  });
});

describe('sends are refused once closing starts', () => {
  it('answers 503 with the API error body', async () => {
    const running = await sidecarFrom('binders: { m: { type: memory } }\nbindings: { out: { direction: output } }');
    await running.sidecar.close();
    const answer = await send(running, 'out', '{}');
    expect([answer.status, answer.body.code]).toEqual([503, 'BINDERY_ERR_BINDER_UNAVAILABLE']);
    await running.close();
  });
});
