/**
 * Poison messages on every binder: a valid JSON body nested far deeper than any JSON encoder
 * recurses reaches SSE listeners and pushed apps like any other message, and never stalls the
 * messages behind it; a message a binder's handler cannot take is dead-lettered (or dropped)
 * and counted, never retried in a loop; a partition key expression evaluated on such a body
 * answers 400.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../../runtime/src/binders/binder.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { deleteRabbitObjects, PushTarget, SseReader, send, sidecarFrom, silent, unique, waitFor } from '../runtime/support.ts';
import { inputBinding as rabbitInput, outputBinding as rabbitOutput, rabbitBinder } from '../rabbit/support.ts';
import { inputBinding as kafkaInput, kafkaBinder, outputBinding as kafkaOutput, rawKafka } from '../kafka/support.ts';
import { createMemoryBinder } from '../../../runtime/src/binders/memory/index.ts';
import type { BindingConfig } from '../../../runtime/src/config/model.ts';

const prefix = unique('hostile-poison');
const raw = rawKafka();
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteRabbitObjects(prefix);
  await raw.cleanup();
});

/** Far deeper than JSON.stringify (or any recursive encoder) goes on a default stack. */
const DEPTH = 50_000;
const deepJson = `{"id":"poison","nest":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}`;

/** How many arrays are nested in `value`, counted without recursion. */
function depthOf(value: unknown): number {
  let depth = 0;
  for (let current = value; Array.isArray(current); current = current[0]) depth++;
  return depth;
}

const binders = {
  memory: () => '{ type: memory }',
  rabbit: () => `{ type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } }`,
  kafka: () => `{ type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } }`,
};

/** A sidecar sending and pushing to `app`, and one an SSE client listens to; both on `type`. */
async function sidecarsOn(type: keyof typeof binders, destination: string, app: PushTarget): Promise<{ pushing: RunningSidecar; pulling: RunningSidecar }> {
  if (type === 'kafka') {
    raw.track({ topics: [destination, `error.${destination}.pushed`, `error.${destination}.pulled`], groups: ['pushed', 'pulled'] });
    // As wide as `keyed` makes it, before anyone consumes: partitions added under running
    // consumers reach them only at their next metadata refresh (30 s).
    await (await raw.admin()).createTopics({ topics: [{ topic: destination, numPartitions: 2 }], waitForLeaders: true });
  }
  // The memory binder lives in its process: both sidecars share one, as apps share a broker.
  const shared = type === 'memory' ? createMemoryBinder({ name: 'b', type: 'memory' }, { logger: silent }) : undefined;
  if (shared) {
    await shared.connect();
    cleanups.push(() => shared.close());
  }
  const options = shared ? { sharedBinders: { b: shared } } : {};
  const pushing = await sidecarFrom([
    `binders: { b: ${binders[type]()} }`,
    'bindings:',
    `  out: { direction: output, destination: ${destination} }`,
    `  keyed: { direction: output, destination: ${destination}, producer: { partitionCount: 2, partitionKeyExpression: payload.nest } }`,
    `  pushed: { direction: input, destination: ${destination}, group: pushed, consumer: { maxAttempts: 1 } }`,
    `app: { port: ${app.port} }`,
  ].join('\n'), options);
  cleanups.push(() => pushing.close());
  const pulling = await sidecarFrom(`binders: { b: ${binders[type]()} }\nbindings:\n  pulled: { direction: input, destination: ${destination}, group: pulled }`, options);
  cleanups.push(() => pulling.close());
  await waitFor('the inputs to consume', () => [pushing, pulling].every((s) => s.sidecar.bindings().some((b) => b.consuming === true)), 30_000);
  return { pushing, pulling };
}

describe.each(['memory', 'rabbit', 'kafka'] as const)('a body nested 50 000 levels deep, on the %s binder', (type) => {
  it('is accepted, reaches listeners and apps intact, and the 20 messages behind it follow', async () => {
    const destination = `${prefix}-${type}`;
    const app = await PushTarget.start();
    cleanups.push(() => app.close());
    const { pushing: running, pulling } = await sidecarsOn(type, destination, app);
    const listener = await SseReader.open(`${pulling.apiUrl}/v1/listen/pulled`);
    cleanups.push(() => listener.close());
    await waitFor('the listener to be counted', () => pulling.sidecar.bindings()[0]?.listeners === 1);

    const poison = await send(running, 'out', deepJson, { 'content-type': 'application/json', 'x-msg-id': 'poison' });
    expect(poison.status).toBe(202);
    const keyed = await send(running, 'keyed', deepJson, { 'content-type': 'application/json' });
    expect([keyed.status, keyed.body.code]).toEqual([400, 'BINDERY_ERR_INVALID_PARTITION_KEY']);
    const ids = Array.from({ length: 20 }, (_, i) => `after-${i}`);
    for (const id of ids) expect((await send(running, 'out', JSON.stringify({ id }), { 'content-type': 'application/json', 'x-msg-id': id })).status).toBe(202);

    await waitFor('all 21 at the listener', () => listener.events.length >= 21, 30_000);
    await waitFor('all 21 pushed', () => app.received.length >= 21, 30_000);
    // Kafka keeps order per partition only (the keyed output made the topic two partitions wide).
    expect(listener.events.map((e) => e.id).sort()).toEqual(['poison', ...ids].sort());
    expect(app.received.map((r) => r.headers['x-msg-id']).sort()).toEqual(['poison', ...ids].sort());
    expect(depthOf((listener.events.find((e) => e.id === 'poison')!.data.payload as { nest: unknown }).nest)).toBe(DEPTH);
    expect(app.received.find((r) => r.headers['x-msg-id'] === 'poison')!.body).toBe(deepJson);
    for (const sidecar of [running, pulling]) expect((await fetch(`${sidecar.opsUrl}/healthz`)).status).toBe(200);
  });
});

/** A binder whose handler throws for one message: what happens to it, and to the ones after it. */
describe('a message the runtime\'s handler cannot take', () => {
  const throwing = () => {
    const received: string[] = [];
    return {
      received,
      handler: (delivery: Delivery) => {
        if (delivery.id === 'poison') throw new RangeError('Maximum call stack size exceeded');
        received.push(delivery.id);
        void delivery.ack();
      },
    };
  };
  const msg = (id: string) => ({ id, payload: Buffer.from(JSON.stringify({ id })), contentType: 'application/json', headers: {} });

  it.each([
    ['memory', async (destination: string) => {
      const binder = createMemoryBinder({ name: 'b', type: 'memory' }, { logger: silent });
      await binder.connect();
      return { binder, input: { ...rabbitInput(destination, 'g', { deadLetter: true }), binder: 'b' }, output: { ...rabbitOutput(destination), binder: 'b' },
        deadLettered: async () => binder.deadLetters(destination, 'g').length };
    }],
    ['rabbit', async (destination: string) => {
      const binder = rabbitBinder();
      await binder.connect();
      const amqp = (await import('amqplib')).default;
      return { binder, input: rabbitInput(destination, 'g', { deadLetter: true }), output: rabbitOutput(destination),
        deadLettered: async () => {
          const connection = await amqp.connect(testEnv().rabbitUrl);
          try {
            return (await (await connection.createChannel()).checkQueue(`${destination}.g.dlq`)).messageCount;
          } finally {
            await connection.close();
          }
        } };
    }],
    ['kafka', async (destination: string) => {
      raw.track({ topics: [destination, `error.${destination}.g`], groups: ['g'] });
      const binder = kafkaBinder();
      await binder.connect();
      return { binder, input: kafkaInput(destination, 'g', { deadLetter: true }), output: kafkaOutput(destination),
        deadLettered: async () => (await (await raw.admin()).fetchTopicOffsets(`error.${destination}.g`)).reduce((sum, p) => sum + Number(p.high), 0) };
    }],
  ] as Array<[string, (destination: string) => Promise<{ binder: import('../../../runtime/src/binders/binder.ts').Binder; input: BindingConfig; output: BindingConfig; deadLettered: () => Promise<number> }>]>)(
    '%s: dead-lettered once, and the messages behind it arrive', async (type, make) => {
      const destination = `${prefix}-throw-${type}`;
      const { binder, input, output, deadLettered } = await make(destination);
      cleanups.push(() => binder.close());
      const consumer = throwing();
      await binder.createConsumer(input, consumer.handler);
      const producer = await binder.createProducer(output);
      await producer.send(msg('poison'));
      for (let i = 0; i < 5; i++) await producer.send(msg(`after-${i}`));
      await waitFor('the 5 messages behind it', () => consumer.received.length === 5, 30_000);
      await waitFor('the poison in the dead letters', async () => (await deadLettered()) === 1, 30_000);
      expect(consumer.received).toEqual(['after-0', 'after-1', 'after-2', 'after-3', 'after-4']);
    });
});
