/**
 * Batch push (`consumer.batchSize`) on the real Kafka: a partition's records go to the app many
 * per POST, one batch at a time and in offset order, while partitions run side by side; each
 * record settles by its own answer, and the group's position moves only past settled records.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';
import { batchPushSuite, sidecarFrom, unique, waitFor } from '../runtime/support.ts';
import { headerText, rawKafka } from './support.ts';

const raw = rawKafka();
const binders = () => `binders:\n  kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } }\n`;
const { sidecar, app, consumingInput, sendAll, later, cleanup } = batchPushSuite(binders);
afterAll(async () => {
  await cleanup();
  await raw.cleanup();
});

describe('batch push on Kafka', () => {
  it('pushes each partition\'s records in batches, one at a time and in order, partitions side by side', async () => {
    const destination = unique('batch-k-order');
    const group = unique('g');
    raw.track({ topics: [destination], groups: [group] });
    const target = await app();
    target.delayMs = 30;
    const input = await sidecar(
      `bindings:\n  input: { direction: input, destination: ${destination}, group: ${group}, consumer: { concurrency: 2, batchSize: 10 } }\n` +
      `  output: { direction: output, destination: ${destination}, producer: { partitionCount: 2 } }\napp: { port: ${target.port} }\n`,
    );
    await consumingInput(input);
    const ids = Array.from({ length: 100 }, (_, i) => `k${i % 2}-${i}`);
    await sendAll(input, ids, (id) => id.split('-')[0]!);
    await waitFor('every record', () => target.lines().length >= ids.length, 30_000);

    expect(target.lines().map((line) => line.id).sort()).toEqual([...ids].sort());
    for (const partition of [0, 1]) {
      const batches = target.batches.filter((batch) => batch.lines[0]!.partition === partition);
      for (const batch of batches) expect(batch.lines.every((line) => line.partition === partition)).toBe(true);
      for (let i = 1; i < batches.length; i++) expect(batches[i]!.started).toBeGreaterThanOrEqual(batches[i - 1]!.answered);
      const seen = batches.flatMap((batch) => batch.lines.map((line) => line.id));
      const key = seen[0]!.split('-')[0]!;
      expect(seen).toEqual(ids.filter((id) => id.startsWith(`${key}-`)));
    }
    expect(Math.max(...target.batches.map((batch) => batch.lines.length))).toBe(10);
    expect(target.mostOpen).toBe(2);
    await waitFor('the group\'s position at the end', async () => {
      const committed = await raw.committed(group, destination);
      return (committed[0] ?? 0) + (committed[1] ?? 0) === ids.length;
    }, 10_000);
  });

  it('settles each record by its own answer, and the next member of the group gets nothing again', async () => {
    const destination = unique('batch-k-each');
    const group = unique('g');
    raw.track({ topics: [destination, `error.${destination}.${group}`], groups: [group] });
    const target = await app();
    const tries = new Map<string, number>();
    target.answer = (line) => {
      tries.set(line.id, (tries.get(line.id) ?? 0) + 1);
      if (line.id === 'flaky') return tries.get(line.id)! < 2 ? 500 : 200;
      if (line.id === 'poison') return 400;
      return 200;
    };
    const consumer = `consumer: { batchSize: 10, deadLetter: true, backOffInitialInterval: 50 }`;
    const first = await sidecarFrom(
      `${binders()}bindings:\n  input: { direction: input, destination: ${destination}, group: ${group}, ${consumer} }\n` +
      `  output: { direction: output, destination: ${destination} }\napp: { port: ${target.port} }\n`,
    );
    later(() => first.close());
    await consumingInput(first);
    await sendAll(first, ['a', 'flaky', 'poison', 'b']);
    await waitFor('the retried record', () => tries.get('flaky') === 2, 15_000);
    const lines = target.lines();
    expect(lines.filter((line) => line.attempt === 1).map((line) => line.id)).toEqual(['a', 'flaky', 'poison', 'b']);
    expect(lines.filter((line) => line.attempt > 1).map((line) => [line.id, line.attempt])).toEqual([['flaky', 2]]);
    expect(target.batches.find((batch) => batch.lines[0]!.attempt === 2)!.lines).toHaveLength(1);
    const [dead] = await raw.read(`error.${destination}.${group}`, 1);
    expect(JSON.parse(dead!.value!.toString())).toEqual({ id: 'poison' });
    expect(headerText(dead!.headers, 'x-exception-message')).toContain('the app answered 400 for this message of the batch');
    await waitFor('the group\'s position past all four', async () => (await raw.committed(group, destination))[0] === 4, 10_000);
    await first.close();

    // Nothing acked comes again: the next member starts after the four.
    const next = await app();
    const second = await sidecar(
      `bindings:\n  input: { direction: input, destination: ${destination}, group: ${group}, ${consumer} }\n` +
      `  output: { direction: output, destination: ${destination} }\napp: { port: ${next.port} }\n`,
    );
    await consumingInput(second);
    await sendAll(second, ['after']);
    await waitFor('the new record', () => next.lines().length >= 1, 20_000);
    expect(next.lines().map((line) => line.id)).toEqual(['after']);
  });
});
