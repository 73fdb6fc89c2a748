import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Delivery, InboundMessage } from '../../../../runtime/src/binders/binder.ts';
import { defaultConsumer, defaultProducer, unsettledLimit, type BindingConfig } from '../../../../runtime/src/config/model.ts';
import { BatchPushDispatcher, batchBody, batchResults, type BatchTransport } from '../../../../runtime/src/delivery/push-batch.ts';
import type { PushResult } from '../../../../runtime/src/delivery/push.ts';
import type { DeliveryOutcome } from '../../../../runtime/src/delivery/settle.ts';
import { FakeClock, settle } from '../../../support/fake-clock.ts';

const silent = pino({ level: 'silent' });

function binding(consumer: Partial<BindingConfig['consumer']> = {}): BindingConfig {
  return {
    name: 'input', direction: 'input', destination: 'orders', group: 'billing', binder: 'memory',
    contentType: 'application/json', maxMessageBytes: 1024, producer: defaultProducer(),
    consumer: { ...defaultConsumer(), batchSize: 10, maxAttempts: 3, backOffInitialInterval: 1000, deadLetter: true, ...consumer },
  };
}

/** A delivery that records how it was settled, into a log shared by all of a test's deliveries. */
function delivery(id: string, log: string[], extra: Partial<InboundMessage> = {}): Delivery {
  return {
    id, payload: Buffer.from(JSON.stringify({ id })), contentType: 'application/json', headers: {}, attempt: 1, ...extra,
    ack: async () => void log.push(`ack ${id}`),
    requeue: async () => void log.push(`requeue ${id}`),
    deadLetter: async (reason: string) => void log.push(`deadLetter ${id}: ${reason}`),
  };
}

/** A transport that answers each message by the status `answer` gives it, recording every batch. */
function app(answer: (message: InboundMessage, batch: number) => number | 'refused', hold?: () => Promise<void>) {
  const batches: Array<Array<{ id: string; attempt: number; partition?: number }>> = [];
  let open = 0;
  let mostOpen = 0;
  const transport: BatchTransport = async (messages) => {
    const batch = batches.push(messages.map(({ id, attempt, partition }) => ({ id, attempt, ...(partition !== undefined && { partition }) })));
    open++;
    mostOpen = Math.max(mostOpen, open);
    await hold?.();
    open--;
    return messages.map((message): PushResult => {
      const status = answer(message, batch);
      if (status === 'refused') return { ok: false, retryable: true, reason: 'refused' };
      return batchResults(200, 'application/json', JSON.stringify({ results: [{ statusCode: status }] }), 1)[0]!;
    });
  };
  return { transport, batches, mostOpen: () => mostOpen };
}

describe('batchResults', () => {
  const ok = { ok: true };
  it.each([
    { name: 'a plain 2xx acks all', status: 204, type: undefined, body: '', want: [ok, ok] },
    { name: 'a 2xx with a text body acks all', status: 200, type: 'text/plain', body: 'fine', want: [ok, ok] },
    { name: 'a 2xx JSON body without results acks all', status: 200, type: 'application/json', body: '{"received":2}', want: [ok, ok] },
    { name: '5xx fails all, retryably', status: 503, type: 'application/json', body: '{"results":[]}', want: [{ ok: false, retryable: true }, { ok: false, retryable: true }] },
    { name: '400 fails all for good', status: 400, type: undefined, body: '', want: [{ ok: false, retryable: false }, { ok: false, retryable: false }] },
    {
      name: 'results answer each message in order', status: 207, type: 'application/json; charset=utf-8',
      body: '{"results":[{"statusCode":200},{"statusCode":500},{"statusCode":422},{"statusCode":429}]}',
      want: [ok, { ok: false, retryable: true, reason: 'the app answered 500 for this message of the batch' }, { ok: false, retryable: false }, { ok: false, retryable: true }],
    },
    { name: 'a +json type is JSON too', status: 200, type: 'application/vnd.acme+json', body: '{"results":[{"statusCode":200},{"statusCode":404}]}', want: [ok, { ok: false, retryable: false }] },
  ])('$name', ({ status, type, body, want }) => {
    const results = batchResults(status, type, body, want.length);
    expect(results).toHaveLength(want.length);
    want.forEach((expected, index) => expect(results[index]).toMatchObject(expected));
  });

  it.each([
    ['a body that is not JSON', '{"results":', /is not JSON/],
    ['results that are not a list', '{"results":{"a":1}}', /"results" that is not a list/],
    ['too few results', '{"results":[{"statusCode":200}]}', /lists 1 results for 2 messages/],
    ['a result without a status', '{"results":[{"statusCode":200},{"status":"ok"}]}', /no statusCode \(100-599\) in result 2/],
    ['a status out of range', '{"results":[{"statusCode":200},{"statusCode":42}]}', /in result 2/],
  ])('an answer with %s fails every message retryably, saying why', (_name, body, reason) => {
    const results = batchResults(200, 'application/json', body, 2);
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(result).toMatchObject({ ok: false, retryable: true });
      expect((result as { reason: string }).reason).toMatch(reason);
    }
  });
});

describe('batchBody', () => {
  it('writes one SSE-shaped line per message, with the attempt each is on', () => {
    const body = batchBody([
      { id: 'a', payload: Buffer.from('{\n"n": 1}'), contentType: 'application/json', headers: { tenant: 'acme' }, partition: 2, attempt: 1 },
      { id: 'b', payload: Buffer.from([1, 2, 3]), contentType: 'application/octet-stream', headers: {}, attempt: 3 },
    ]);
    const lines = body.toString('utf8').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines.slice(0, 2).map((line) => JSON.parse(line))).toEqual([
      { id: 'a', payload: { n: 1 }, contentType: 'application/json', headers: { tenant: 'acme' }, partition: 2, attempt: 1 },
      { id: 'b', payload: 'AQID', contentType: 'application/octet-stream', headers: {}, partition: null, attempt: 3 },
    ]);
  });
});

describe('unsettledLimit', () => {
  it.each([
    [{ concurrency: 1, batchSize: 1 }, 1],
    [{ concurrency: 4, batchSize: 1 }, 4],
    [{ concurrency: 1, batchSize: 50 }, 100],
    [{ concurrency: 3, batchSize: 10 }, 40],
  ])('%o holds %i unsettled', (consumer, limit) => {
    expect(unsettledLimit(consumer)).toBe(limit);
  });
});

describe('BatchPushDispatcher', () => {
  it('pushes what arrived together as one batch, and acks each message', async () => {
    const log: string[] = [];
    const seen: DeliveryOutcome[] = [];
    const { transport, batches } = app(() => 200);
    const dispatcher = new BatchPushDispatcher(binding(), transport, new FakeClock(), (outcome) => seen.push(outcome), silent);
    for (const id of ['a', 'b', 'c']) dispatcher.handle(delivery(id, log));
    await settle();
    expect(batches).toEqual([[{ id: 'a', attempt: 1 }, { id: 'b', attempt: 1 }, { id: 'c', attempt: 1 }]]);
    expect(log).toEqual(['ack a', 'ack b', 'ack c']);
    expect(seen).toEqual(['ack', 'ack', 'ack']);
  });

  it('splits at batchSize', async () => {
    const log: string[] = [];
    const { transport, batches } = app(() => 200);
    const dispatcher = new BatchPushDispatcher(binding({ batchSize: 2, concurrency: 1 }), transport, new FakeClock(), () => undefined, silent);
    for (const id of ['a', 'b', 'c', 'd', 'e']) dispatcher.handle(delivery(id, log));
    await settle();
    expect(batches.map((batch) => batch.map((m) => m.id))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(log).toHaveLength(5);
  });

  it('retries only the failed messages after the back-off, then dead-letters what keeps failing', async () => {
    const log: string[] = [];
    const seen: DeliveryOutcome[] = [];
    const clock = new FakeClock();
    // b fails twice then passes; c always fails; d is refused for good.
    const { transport, batches } = app((message) => {
      if (message.id === 'b') return message.attempt < 3 ? 503 : 200;
      if (message.id === 'c') return 'refused';
      if (message.id === 'd') return 400;
      return 200;
    });
    const dispatcher = new BatchPushDispatcher(binding(), transport, clock, (outcome) => seen.push(outcome), silent);
    for (const id of ['a', 'b', 'c', 'd']) dispatcher.handle(delivery(id, log));
    await settle();
    await clock.advance(60_000);
    expect(batches).toEqual([
      [{ id: 'a', attempt: 1 }, { id: 'b', attempt: 1 }, { id: 'c', attempt: 1 }, { id: 'd', attempt: 1 }],
      [{ id: 'b', attempt: 2 }, { id: 'c', attempt: 2 }],
      [{ id: 'b', attempt: 3 }, { id: 'c', attempt: 3 }],
    ]);
    expect(clock.scheduled).toEqual([1000, 2000]);
    expect(log).toEqual([
      'ack a',
      'deadLetter d: the app answered 400 for this message of the batch (attempt 1 of 3)',
      'ack b',
      'deadLetter c: refused (attempt 3 of 3)',
    ]);
    expect(seen.filter((outcome) => outcome !== 'retry')).toEqual(['ack', 'dead_letter', 'ack', 'dead_letter']);
    expect(seen.filter((outcome) => outcome === 'retry')).toHaveLength(4);
  });

  it('keeps one batch per partition out, in order, while unordered messages use every slot', async () => {
    const log: string[] = [];
    const held: Array<() => void> = [];
    const gate = () => new Promise<void>((resolve) => held.push(resolve));
    const release = (): void => held.splice(0).forEach((resolve) => resolve());
    const { transport, batches } = app(() => 200, gate);
    const dispatcher = new BatchPushDispatcher(binding({ batchSize: 2, concurrency: 4 }), transport, new FakeClock(), () => undefined, silent);
    for (const id of ['p0-1', 'p0-2', 'p0-3', 'p0-4']) dispatcher.handle(delivery(id, log, { partition: 0 }));
    dispatcher.handle(delivery('p1-1', log, { partition: 1 }));
    await settle();
    // Partition 0 has one batch out although three more slots are free; partition 1 has its own.
    expect(batches.map((batch) => batch.map((m) => m.id))).toEqual([['p0-1', 'p0-2'], ['p1-1']]);
    expect(dispatcher.counts).toEqual({ batches: 2, waiting: 2 });
    release();
    await settle();
    expect(batches.map((batch) => batch.map((m) => m.id))).toEqual([['p0-1', 'p0-2'], ['p1-1'], ['p0-3', 'p0-4']]);

    const unordered = app(() => 200, gate);
    const parallel = new BatchPushDispatcher(binding({ batchSize: 2, concurrency: 3 }), unordered.transport, new FakeClock(), () => undefined, silent);
    for (let i = 0; i < 10; i++) parallel.handle(delivery(`u${i}`, log));
    await settle();
    expect(unordered.batches).toHaveLength(3);
    expect(unordered.mostOpen()).toBe(3);
    release();
    await parallel.stop();
    // Stopping sends nothing new: the three batches out are acked, the rest goes back.
    expect(unordered.batches).toHaveLength(3);
    expect(log.filter((entry) => entry.startsWith('requeue u'))).toEqual(['requeue u9', 'requeue u8', 'requeue u7', 'requeue u6']);
    expect(log.filter((entry) => entry.startsWith('ack u')).sort()).toEqual(['ack u0', 'ack u1', 'ack u2', 'ack u3', 'ack u4', 'ack u5']);
  });

  it('sends a short batch only while none of its lane is out; later arrivals fill up until they are answered', async () => {
    const log: string[] = [];
    const held: Array<() => void> = [];
    const gate = () => new Promise<void>((resolve) => held.push(resolve));
    const { transport, batches } = app(() => 200, gate);
    const dispatcher = new BatchPushDispatcher(binding({ batchSize: 4, concurrency: 3 }), transport, new FakeClock(), () => undefined, silent);
    const ids = (): string[][] => batches.map((batch) => batch.map((m) => m.id));
    // Nothing is out: a single message leaves at once rather than waiting for company.
    dispatcher.handle(delivery('a', log));
    await settle();
    expect(ids()).toEqual([['a']]);
    // While it is out, a full batch still leaves, and the remainder waits although slots are free.
    for (const id of ['b', 'c', 'd', 'e', 'f']) dispatcher.handle(delivery(id, log));
    await settle();
    expect(ids()).toEqual([['a'], ['b', 'c', 'd', 'e']]);
    expect(dispatcher.counts).toEqual({ batches: 2, waiting: 1 });
    // One of the two answered: the other is still out, so f and g keep gathering.
    held.shift()!();
    dispatcher.handle(delivery('g', log));
    await settle();
    expect(dispatcher.counts).toEqual({ batches: 1, waiting: 2 });
    // Both answered: what gathered meanwhile leaves as one batch.
    held.shift()!();
    await settle();
    expect(ids()).toEqual([['a'], ['b', 'c', 'd', 'e'], ['f', 'g']]);
    held.splice(0).forEach((resolve) => resolve());
    await dispatcher.stop();
    expect(log.filter((entry) => entry.startsWith('ack')).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => `ack ${id}`));
  });

  it('gives back what waits and what waits for a retry when it stops, last first', async () => {
    const log: string[] = [];
    const clock = new FakeClock();
    const { transport } = app((message) => (message.id === 'a' || message.id === 'b' ? 503 : 200));
    const dispatcher = new BatchPushDispatcher(binding({ batchSize: 2 }), transport, clock, () => undefined, silent);
    for (const id of ['a', 'b', 'c']) dispatcher.handle(delivery(id, log, { partition: 0 }));
    await settle();
    expect(clock.pendingTimers).toBe(1);
    await dispatcher.stop();
    expect(log).toEqual(['requeue c', 'requeue b', 'requeue a']);
    dispatcher.handle(delivery('late', log));
    await settle();
    expect(log.at(-1)).toBe('requeue late');
  });
});
