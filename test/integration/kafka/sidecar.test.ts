/**
 * The seed behaviours over HTTP on the real Kafka: a provider sidecar and consumer sidecars
 * pushing to apps, counted as a user of the seed counts them; and partitioned sends that
 * answer with the partition Java would choose.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { javaHashPartition } from '../../../runtime/src/partition/index.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { delay, post, PushTarget, send, sidecarFrom, unique, waitFor } from '../runtime/support.ts';
import { rawKafka } from './support.ts';

const raw = rawKafka();
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await raw.cleanup();
});

const binders = () => `binders:\n  kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } }\n`;

async function provider(destination: string, producer = '{}'): Promise<RunningSidecar> {
  const sidecar = await sidecarFrom(`${binders()}bindings:\n  output: { direction: output, destination: ${destination}, producer: ${producer} }\n`);
  cleanups.push(() => sidecar.close());
  return sidecar;
}

/** An app behind its own sidecar, consuming `destination` in `group` (anonymous without). */
async function consumer(destination: string, group: string | undefined, consumerSettings = '{ backOffInitialInterval: 50, backOffMaxInterval: 100 }') {
  const app = await PushTarget.start();
  const groupPart = group === undefined ? '' : `, group: ${group}`;
  const sidecar = await sidecarFrom(
    `${binders()}bindings:\n  input: { direction: input, destination: ${destination}${groupPart}, consumer: ${consumerSettings} }\napp: { port: ${app.port} }\n`,
  );
  cleanups.push(() => app.close(), () => sidecar.close());
  // The sidecar answers before its binder has joined the group; a test sends only once it has.
  await waitFor('the input to consume', () => sidecar.sidecar.bindings().find((b) => b.name === 'input')?.consuming === true, 30_000);
  const ids = () => app.bodies().map((b) => (JSON.parse(b) as { id: string }).id);
  const state = (s: 'stopped' | 'started') => post(`${sidecar.apiUrl}/v1/bindings/input/state`, { state: s });
  return { app, sidecar, ids, state };
}

async function sendIds(sidecar: RunningSidecar, prefix: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}-${i}`;
    const response = await send(sidecar, 'output', JSON.stringify({ id }), { 'content-type': 'application/json', 'x-msg-id': id });
    expect(response.status).toBe(202);
    ids.push(id);
  }
  return ids;
}

const countOf = (ids: string[], sent: string[]) => ids.filter((id) => sent.includes(id)).length;

describe('the seed on Kafka, over HTTP', () => {
  it('broadcast: two groups each get every message', async () => {
    const destination = unique('seed-broadcast');
    const [groupA, groupB] = [unique('atguiguA'), unique('atguiguB')];
    raw.track({ topics: [destination, `error.${destination}.${groupA}`, `error.${destination}.${groupB}`], groups: [groupA, groupB] });
    const a = await consumer(destination, groupA);
    const b = await consumer(destination, groupB);
    const sent = await sendIds(await provider(destination), 'b', 4);
    await waitFor('both groups', () => countOf(a.ids(), sent) === 4 && countOf(b.ids(), sent) === 4, 20_000);
    expect(a.ids().sort()).toEqual(sent);
    expect(b.ids().sort()).toEqual(sent);
  });

  it('competition: consumers of one group share the messages, none twice; durability: 4 sent while down arrive', async () => {
    const destination = unique('seed-group');
    const group = unique('atguiguA');
    raw.track({ topics: [destination, `error.${destination}.${group}`], groups: [group] });
    // concurrency 2: the topic gets two partitions, one for each member of the group.
    const one = await consumer(destination, group, '{ concurrency: 2 }');
    const two = await consumer(destination, group, '{ concurrency: 2 }');
    await waitFor('two members in the group', async () => {
      const { groups } = await (await raw.admin()).describeGroups([group]);
      return groups[0]?.state === 'Stable' && groups[0].members.length === 2;
    }, 20_000);
    const output = await provider(destination);
    const sent = await sendIds(output, 'c', 10);
    await waitFor('all 10', () => countOf(one.ids(), sent) + countOf(two.ids(), sent) >= 10, 20_000);
    await delay(1_500);
    expect(countOf(one.ids(), sent)).toBeGreaterThan(0);
    expect(countOf(two.ids(), sent)).toBeGreaterThan(0);
    expect([...one.ids(), ...two.ids()].sort()).toEqual(sent);

    expect((await two.state('stopped')).status).toBe(200);
    expect((await one.state('stopped')).status).toBe(200);
    const whileDown = await sendIds(output, 'd', 4);
    await delay(1_000);
    expect(countOf(one.ids(), whileDown) + countOf(two.ids(), whileDown)).toBe(0);
    expect((await one.state('started')).status).toBe(200);
    await waitFor('the 4 sent while down', () => countOf(one.ids(), whileDown) === 4, 20_000);
    expect(countOf(one.ids(), whileDown)).toBe(4);
  });

  it('anonymous: gets what is sent while it runs, 0 of the 4 sent while it was down', async () => {
    const destination = unique('seed-anon');
    const witnessGroup = unique('witness');
    raw.track({ topics: [destination, `error.${destination}.${witnessGroup}`], groups: [witnessGroup] });
    const witness = await consumer(destination, witnessGroup);
    const anonymous = await consumer(destination, undefined);
    const output = await provider(destination);
    const warmUp = await sendIds(output, 'w', 2);
    await waitFor('the warm-up', () => countOf(anonymous.ids(), warmUp) === 2, 20_000);
    expect((await anonymous.state('stopped')).status).toBe(200);
    const whileDown = await sendIds(output, 'x', 4);
    await waitFor('the witness to get the 4', () => countOf(witness.ids(), whileDown) === 4, 20_000);
    expect((await anonymous.state('started')).status).toBe(200);
    await delay(2_000);
    expect(countOf(anonymous.ids(), whileDown)).toBe(0);
  });
});

describe('partitioned sends over HTTP on Kafka', () => {
  it('answers 202 with the partition Java chooses, and 400 without a key', async () => {
    const destination = unique('http-part');
    raw.track({ topics: [destination] });
    const output = await provider(destination, '{ partitionCount: 4, partitionKeyExpression: payload.user }');
    for (const user of ['user-1', 'polygenelubricants', 'héllo', 'order-12345']) {
      const response = await send(output, 'output', JSON.stringify({ user }));
      expect(response.status).toBe(202);
      expect(response.body.partition).toBe(javaHashPartition(user, 4));
    }
    const keyed = await send(output, 'output', JSON.stringify({}), { 'content-type': 'application/json', 'x-partition-key': 'k-9' });
    expect(keyed.body.partition).toBe(javaHashPartition('k-9', 4));
    const missing = await send(output, 'output', JSON.stringify({ other: 1 }));
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('BINDERY_ERR_MISSING_PARTITION_KEY');
    expect(missing.body.message).toMatch(/partition key expression "payload.user" found no value/);
  });
});

describe('bulk send over HTTP on Kafka', () => {
  it('answers each line with the partition it went to, and each partition holds its lines in order', async () => {
    const destination = unique('http-bulk');
    raw.track({ topics: [destination] });
    const output = await provider(destination, '{ partitionCount: 2, partitionKeyExpression: payload.user }');
    const lines = Array.from({ length: 200 }, (_, n) => ({ id: `b-${n}`, payload: { user: `user-${n % 5}`, n } }));
    const answer = await send(output, 'output', lines.map((line) => JSON.stringify(line)).join('\n'), { 'content-type': 'application/x-ndjson' });
    expect(answer.status).toBe(200);
    const results = answer.body.results as Array<{ statusCode: number; id: string; partition: number }>;
    expect(results.map((r) => [r.statusCode, r.id, r.partition])).toEqual(
      lines.map((line) => [202, line.id, javaHashPartition(line.payload.user, 2)]),
    );
    const records = await raw.read(destination, lines.length);
    for (const partition of [0, 1]) {
      const inPartition = records.filter((r) => r.partition === partition).map((r) => (JSON.parse(r.value!.toString()) as { n: number }).n);
      expect(inPartition).toEqual(lines.filter((line) => javaHashPartition(line.payload.user, 2) === partition).map((line) => line.payload.n));
    }
  });
});
