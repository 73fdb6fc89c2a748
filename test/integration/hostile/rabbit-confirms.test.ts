/**
 * Publisher confirms on the real RabbitMQ when a message cannot be encoded: the failure stays
 * with that message, every later confirm is matched to its own message, and a dead letter
 * that cannot be republished still reaches the dead-letter queue, through the broker's own
 * dead-lettering, without a rejected promise anywhere.
 */
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { BinderUnavailableError } from '../../../runtime/src/binders/binder.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { deleteRabbitObjects, PushTarget, SseReader, send, sidecarFrom, unique, waitFor } from '../runtime/support.ts';
import { message, outputBinding, rabbitBinder } from '../rabbit/support.ts';

const prefix = unique('hostile-confirms');
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteRabbitObjects(prefix);
});

async function rabbitSidecar(yaml: string): Promise<RunningSidecar> {
  const running = await sidecarFrom(`binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }\n${yaml}`);
  cleanups.push(() => running.close());
  await waitFor('the sidecar to be ready', () => running.sidecar.readiness().ready);
  return running;
}

describe('a message the client cannot encode', () => {
  it('fails alone: the binder confirms the next message as its own, at once', async () => {
    const destination = `${prefix}-binder`;
    const binder = rabbitBinder({ confirmTimeout: 3_000 });
    cleanups.push(() => binder.close());
    await binder.connect();
    const producer = await binder.createProducer(outputBinding(destination, { requiredGroups: ['g'] }));
    const unencodable = { ...message('bad'), contentType: `application/${'x'.repeat(300)}` };
    await expect(producer.send(unencodable)).rejects.toBeInstanceOf(BinderUnavailableError);
    const started = Date.now();
    await producer.send(message('next-1'));
    await producer.send(message('next-2'));
    expect(Date.now() - started).toBeLessThan(2_000);
    const connection = await amqp.connect(testEnv().rabbitUrl);
    cleanups.push(() => connection.close());
    const channel = await connection.createChannel();
    const ids = [(await channel.get(`${destination}.g`)), (await channel.get(`${destination}.g`))].map((m) => m && m.properties.messageId);
    expect(ids).toEqual(['next-1', 'next-2']);
  });

  it('through the API: refused with 400 before publishing, and the sends after it are confirmed as theirs', async () => {
    const destination = `${prefix}-api`;
    const running = await rabbitSidecar(
      `bindings:\n  out: { direction: output, destination: ${destination} }\n  in: { direction: input, destination: ${destination}, group: g }`,
    );
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    await waitFor('the input to consume', () => running.sidecar.bindings().find((b) => b.name === 'in')?.consuming === true);
    const refused = await send(running, 'out', '{}', { 'content-type': 'application/json', 'x-msg-id': 'i'.repeat(256) });
    expect([refused.status, refused.body.code]).toEqual([400, 'BINDERY_ERR_INVALID_HEADER']);
    const started = Date.now();
    const ids = Array.from({ length: 20 }, (_, i) => `after-${i}`);
    const answers = await Promise.all(ids.map((id) => send(running, 'out', JSON.stringify({ id }), { 'content-type': 'application/json', 'x-msg-id': id })));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 202));
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor('the 20 messages at the listener', () => listener.events.length === 20);
    for (const event of listener.events) expect(event.data.payload).toEqual({ id: event.id });
    expect((await fetch(`${running.opsUrl}/readyz`)).status).toBe(200);
  });
});

describe('a dead letter too large to republish', () => {
  it('reaches the DLQ through the broker\'s dead-lettering, from push and from an ack timeout; the binding goes on', async () => {
    const destination = `${prefix}-dlq`;
    const app = await PushTarget.start();
    cleanups.push(() => app.close());
    app.statuses = [400];
    const push = await rabbitSidecar([
      'bindings:',
      `  pushed: { direction: input, destination: ${destination}, group: p, consumer: { maxAttempts: 1, deadLetter: true } }`,
      `app: { port: ${app.port} }`,
    ].join('\n'));
    const pull = await rabbitSidecar(
      `bindings:\n  pulled: { direction: input, destination: ${destination}, group: q, consumer: { maxAttempts: 1, ackTimeout: 300, deadLetter: true } }`,
    );
    const listener = await SseReader.open(`${pull.apiUrl}/v1/listen/pulled?ack=manual`);
    cleanups.push(() => listener.close());
    await waitFor('both inputs to consume', () => [push, pull].every((s) => s.sidecar.bindings()[0]!.consuming === true));

    // Headers just under amqplib's 64 KiB table limit: the republished dead letter adds its own and no longer fits.
    const connection = await amqp.connect(testEnv().rabbitUrl);
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    const publish = (id: string, headers: Record<string, string>) =>
      new Promise<void>((resolve, reject) => {
        channel.publish(destination, destination, Buffer.from(JSON.stringify({ id })), { messageId: id, contentType: 'application/json', headers, persistent: true }, (error) => (error ? reject(error) : resolve()));
      });
    await publish('poison', { big: 'b'.repeat(65_400) });
    await waitFor('both copies in their DLQs', async () => {
      const p = await channel.checkQueue(`${destination}.p.dlq`);
      const q = await channel.checkQueue(`${destination}.q.dlq`);
      return p.messageCount === 1 && q.messageCount === 1;
    }, 15_000);
    app.statuses = [200];
    await publish('next', {});
    await waitFor('the next message pushed', () => app.bodies().some((b) => b.includes('"next"')));
    await waitFor('the next message listened to', () => listener.events.some((e) => e.id === 'next'));
    const metrics = await (await fetch(`${push.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/bindery_deliveries_total\{[^}]*outcome="dead_letter"\} 1/);
  });
});
