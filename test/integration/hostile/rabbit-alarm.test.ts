/**
 * A RabbitMQ memory alarm on the real node (rabbitmqctl set_vm_memory_high_watermark): the
 * broker blocks connections that publish, and consumers must go on draining the queues, which
 * is what clears the alarm. Publishing and consuming therefore use separate connections, as
 * Spring AMQP's do.
 */
import { afterAll, expect, it } from 'vitest';
import { rabbitctl } from '../../env/rabbit.ts';
import { managementApi, testEnv } from '../../support/env.ts';
import { deleteRabbitObjects, post, PushTarget, send, sidecarFrom, unique, waitFor } from '../runtime/support.ts';

const prefix = unique('hostile-alarm');
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await rabbitctl(['set_vm_memory_high_watermark', '0.4']);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteRabbitObjects(prefix);
});

async function alarm(on: boolean): Promise<void> {
  await rabbitctl(['set_vm_memory_high_watermark', on ? '0.000001' : '0.4']);
  await waitFor(`the memory alarm ${on ? 'on' : 'off'}`, async () => {
    const nodes = (await managementApi<Array<{ mem_alarm: boolean }>>('/nodes')) ?? [];
    return nodes.length > 0 && nodes.every((node) => node.mem_alarm === on);
  }, 15_000);
}

it('publishers are blocked, consumers keep draining the queue; sends are refused, none hangs, none is lost', async () => {
  const destination = `${prefix}-orders`;
  const app = await PushTarget.start();
  cleanups.push(() => app.close());
  const running = await sidecarFrom(`binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings:
  out: { direction: output, destination: ${destination} }
  in: { direction: input, destination: ${destination}, group: g, consumer: { concurrency: 4 } }
app: { port: ${app.port} }`);
  cleanups.push(() => running.close());
  await waitFor('the input to consume', () => running.sidecar.bindings().find((b) => b.name === 'in')?.consuming === true);

  // 200 messages wait in the queue while the input is stopped.
  await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'stopped' });
  for (let i = 0; i < 200; i++) expect((await send(running, 'out', JSON.stringify({ i }), { 'content-type': 'application/json', 'x-msg-id': `before-${i}` })).status).toBe(202);

  await alarm(true);
  try {
    // Sends during the alarm: the first may wait for its confirm (504), the rest are refused at once.
    const during: Array<{ status: number; ms: number }> = [];
    for (let i = 0; i < 10; i++) {
      const started = Date.now();
      const answer = await send(running, 'out', JSON.stringify({ i }), { 'content-type': 'application/json', 'x-msg-id': `during-${i}` });
      during.push({ status: answer.status, ms: Date.now() - started });
    }
    await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'started' });
    await waitFor('the 200 queued messages pushed and acked during the alarm', async () => {
      const queue = await managementApi<{ messages: number }>(`/queues/%2F/${encodeURIComponent(`${destination}.g`)}`);
      return app.received.length >= 200 && queue?.messages === 0;
    }, 30_000);
    console.log(`rabbit memory alarm: 200 queued messages pushed during the alarm; sends during it: ${during.map((d) => `${d.status} in ${d.ms} ms`).join(', ')}`);
    expect(during.every((d) => d.status === 503 || d.status === 504)).toBe(true);
    expect(during.filter((d) => d.status === 503).length).toBeGreaterThanOrEqual(9);
    expect(during.filter((d) => d.status === 503).every((d) => d.ms < 1_000)).toBe(true);
  } finally {
    await alarm(false);
  }
  await waitFor('sends accepted again', async () => (await send(running, 'out', '{}', { 'content-type': 'application/json', 'x-msg-id': 'after' })).status === 202, 15_000);
  const ids = new Set(app.received.map((r) => String(r.headers['x-msg-id'])));
  for (let i = 0; i < 200; i++) expect(ids.has(`before-${i}`)).toBe(true);
  await waitFor('the message sent after the alarm', () => app.received.some((r) => r.headers['x-msg-id'] === 'after'), 15_000);
}, 120_000);
