/**
 * Batch push (`consumer.batchSize`) on the real RabbitMQ: many messages per POST, each settled
 * on its own (acked, retried, dead-lettered), one batch at a time per partition queue, and
 * nothing acked that the app did not take.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';
import { batchPushSuite, sidecarFrom, waitFor } from '../runtime/support.ts';
import { rawRabbit, uniqueDestination } from './support.ts';

const binders = () => `binders:\n  rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } }\n`;
const { sidecar, app, consumingInput, sendAll, later, cleanup } = batchPushSuite(binders);
afterAll(cleanup);

async function queueDepth(queue: string): Promise<number> {
  const raw = await rawRabbit();
  try {
    return (await raw.channel.checkQueue(queue)).messageCount;
  } finally {
    await raw.close();
  }
}

describe('batch push on RabbitMQ', () => {
  it('pushes many messages per POST as ndjson, in order, each once, and acks them all', async () => {
    const destination = uniqueDestination('batch-order');
    const target = await app();
    target.delayMs = 20;
    const output = await sidecar(`bindings:\n  output: { direction: output, destination: ${destination}, producer: { requiredGroups: [g] } }\n`);
    const ids = Array.from({ length: 60 }, (_, i) => `m-${i}`);
    await sendAll(output, ids);
    const input = await sidecar(`bindings:\n  input: { direction: input, destination: ${destination}, group: g, consumer: { batchSize: 25 } }\napp: { port: ${target.port} }\n`);
    await consumingInput(input);
    await waitFor('every message', () => target.lines().length >= ids.length, 30_000);

    expect(target.lines().map((line) => line.id)).toEqual(ids);
    expect(target.batches.every((batch) => batch.contentType === 'application/x-ndjson')).toBe(true);
    expect(Math.max(...target.batches.map((batch) => batch.lines.length))).toBe(25);
    expect(target.batches.length).toBeLessThanOrEqual(10);
    expect(target.lines()[0]).toMatchObject({ id: 'm-0', payload: { id: 'm-0' }, contentType: 'application/json', attempt: 1, partition: null });
    await waitFor('the queue to be empty', async () => (await queueDepth(`${destination}.g`)) === 0, 10_000);
  });

  it('settles each message by its own answer: acked, retried alone, or dead-lettered', async () => {
    const destination = uniqueDestination('batch-each');
    const target = await app();
    const tries = new Map<string, number>();
    target.answer = (line) => {
      tries.set(line.id, (tries.get(line.id) ?? 0) + 1);
      if (line.id === 'flaky') return tries.get(line.id)! < 2 ? 503 : 200;
      if (line.id === 'poison') return 422;
      return 200;
    };
    const input = await sidecar(
      `bindings:\n  input: { direction: input, destination: ${destination}, group: g, consumer: { batchSize: 10, deadLetter: true, maxAttempts: 3, backOffInitialInterval: 50 } }\n` +
      `  output: { direction: output, destination: ${destination} }\napp: { port: ${target.port} }\n`,
    );
    await consumingInput(input);
    await sendAll(input, ['a', 'flaky', 'poison', 'b']);
    await waitFor('the retried message', () => tries.get('flaky') === 2, 10_000);

    const lines = target.lines();
    expect(lines.filter((line) => line.id !== 'flaky').map((line) => [line.id, line.attempt])).toEqual([['a', 1], ['poison', 1], ['b', 1]]);
    expect(lines.filter((line) => line.id === 'flaky').map((line) => line.attempt)).toEqual([1, 2]);
    // The retry went alone: the others were settled by the first answer.
    expect(target.batches.find((batch) => batch.lines[0]!.attempt === 2)!.lines.map((line) => line.id)).toEqual(['flaky']);
    const raw = await rawRabbit();
    try {
      const dead = await raw.getOne(`${destination}.g.dlq`);
      expect(JSON.parse(dead.content.toString())).toEqual({ id: 'poison' });
      expect(String(dead.properties.headers?.['x-exception-message'])).toContain('the app answered 422 for this message of the batch');
    } finally {
      await raw.close();
    }
    await waitFor('the queue to be empty', async () => (await queueDepth(`${destination}.g`)) === 0, 10_000);
  });

  it('keeps one batch per partition queue in flight, in order, while partitions overlap', async () => {
    const destination = uniqueDestination('batch-parts');
    const target = await app();
    target.delayMs = 30;
    const output = await sidecar(`bindings:\n  output: { direction: output, destination: ${destination}, producer: { partitionCount: 2, requiredGroups: [g] } }\n`);
    const ids = Array.from({ length: 80 }, (_, i) => `k${i % 2}-${i}`);
    await sendAll(output, ids, (id) => id.split('-')[0]!);
    const input = await sidecar(
      `bindings:\n  input: { direction: input, destination: ${destination}, group: g, producer: { partitionCount: 2 }, consumer: { partitioned: true, concurrency: 4, batchSize: 5 } }\n` +
      `app: { port: ${target.port} }\n`,
    );
    await consumingInput(input);
    await waitFor('every message', () => target.lines().length >= ids.length, 30_000);

    for (const partition of [0, 1]) {
      const batches = target.batches.filter((batch) => batch.lines[0]!.partition === partition);
      expect(batches.length).toBeGreaterThan(0);
      // One partition, one batch at a time: each came after the one before it was answered.
      for (let i = 1; i < batches.length; i++) expect(batches[i]!.started).toBeGreaterThanOrEqual(batches[i - 1]!.answered);
      const seen = batches.flatMap((batch) => batch.lines);
      expect(seen.every((line) => line.partition === partition)).toBe(true);
      const key = seen[0]!.id.split('-')[0]!;
      expect(seen.map((line) => line.id)).toEqual(ids.filter((id) => id.startsWith(`${key}-`)));
    }
    // The two partitions did run side by side.
    expect(target.mostOpen).toBe(2);
  });

  it('acks nothing the app did not answer: a batch cut off by the sidecar stopping comes back to the next one', async () => {
    const destination = uniqueDestination('batch-stop');
    const silentApp = await app();
    silentApp.delayMs = 60_000;
    const output = await sidecar(`bindings:\n  output: { direction: output, destination: ${destination}, producer: { requiredGroups: [g] } }\n`);
    const first = await sidecarFrom(
      `${binders()}bindings:\n  input: { direction: input, destination: ${destination}, group: g, consumer: { batchSize: 10, pushTimeout: 300, backOffInitialInterval: 60000, backOffMaxInterval: 60000 } }\napp: { port: ${silentApp.port} }\n`,
    );
    later(() => first.close());
    await consumingInput(first);
    const ids = Array.from({ length: 12 }, (_, i) => `s-${i}`);
    await sendAll(output, ids);
    // The first batch timed out and waits for its retry when the sidecar stops.
    await waitFor('the first push', () => silentApp.mostOpen > 0, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await first.close();

    const target = await app();
    const second = await sidecar(`bindings:\n  input: { direction: input, destination: ${destination}, group: g, consumer: { batchSize: 10 } }\napp: { port: ${target.port} }\n`);
    await consumingInput(second);
    await waitFor('every message again', () => target.lines().length >= ids.length, 20_000);
    expect(target.lines().map((line) => line.id).sort()).toEqual([...ids].sort());
    await waitFor('the queue to be empty', async () => (await queueDepth(`${destination}.g`)) === 0, 10_000);
  });
});
