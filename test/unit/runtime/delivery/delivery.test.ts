import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../../runtime/src/binders/binder.ts';
import { defaultConsumer, defaultProducer, type BindingConfig } from '../../../../runtime/src/config/model.ts';
import pino from 'pino';
import { ListenerHub, eventData, formatEvent, isJsonContentType, payloadJson, type Listener } from '../../../../runtime/src/delivery/listeners.ts';
import { PushDispatcher, type PushResult } from '../../../../runtime/src/delivery/push.ts';
import type { DeliveryOutcome } from '../../../../runtime/src/delivery/settle.ts';
import { FakeClock, settle } from '../../../support/fake-clock.ts';

const silent = pino({ level: 'silent' });

function binding(consumer: Partial<BindingConfig['consumer']> = {}): BindingConfig {
  return {
    name: 'input',
    direction: 'input',
    destination: 'orders',
    group: 'billing',
    binder: 'memory',
    contentType: 'application/json',
    maxMessageBytes: 1024,
    producer: defaultProducer(),
    consumer: { ...defaultConsumer(), ...consumer },
  };
}

/** A delivery that records how it was settled. */
function fakeDelivery(attempt = 1): Delivery & { settled: string[] } {
  const settled: string[] = [];
  return {
    id: 'm-1',
    payload: Buffer.from('{"n":1}'),
    contentType: 'application/json',
    headers: { trace: 't-1' },
    attempt,
    settled,
    ack: async () => void settled.push('ack'),
    requeue: async () => void settled.push('requeue'),
    deadLetter: async (reason: string) => void settled.push(`deadLetter: ${reason}`),
  };
}

function scripted(statuses: Array<number | 'refused'>) {
  const attempts: number[] = [];
  const transport = async (_message: unknown, attempt: number): Promise<PushResult> => {
    attempts.push(attempt);
    const status = statuses[Math.min(attempts.length - 1, statuses.length - 1)]!;
    if (status === 'refused') return { ok: false, retryable: true, reason: 'push failed: ECONNREFUSED' };
    if (status < 300) return { ok: true };
    return { ok: false, retryable: status >= 500 || status === 408 || status === 429, reason: `the app answered HTTP ${status}` };
  };
  return { transport, attempts };
}

describe('PushDispatcher', () => {
  const consumer = { maxAttempts: 3, backOffInitialInterval: 1000, backOffMultiplier: 2, backOffMaxInterval: 10000, deadLetter: true };

  it.each([
    { name: '2xx at once', statuses: [200], attempts: [1], delays: [], settled: 'ack', outcomes: ['ack'] },
    { name: '5xx then 2xx', statuses: [500, 503, 200], attempts: [1, 2, 3], delays: [1000, 2000], settled: 'ack', outcomes: ['retry', 'retry', 'ack'] },
    { name: '5xx every time', statuses: [500], attempts: [1, 2, 3], delays: [1000, 2000], settled: 'deadLetter', outcomes: ['retry', 'retry', 'dead_letter'] },
    { name: 'refused every time', statuses: ['refused' as const], attempts: [1, 2, 3], delays: [1000, 2000], settled: 'deadLetter', outcomes: ['retry', 'retry', 'dead_letter'] },
    { name: '408 and 429 are retried', statuses: [408, 429, 204], attempts: [1, 2, 3], delays: [1000, 2000], settled: 'ack', outcomes: ['retry', 'retry', 'ack'] },
    { name: '404 dead-letters at once', statuses: [404], attempts: [1], delays: [], settled: 'deadLetter', outcomes: ['dead_letter'] },
    { name: '400 after a 500', statuses: [500, 400], attempts: [1, 2], delays: [1000], settled: 'deadLetter', outcomes: ['retry', 'dead_letter'] },
  ])('$name', async ({ statuses, attempts, delays, settled, outcomes }) => {
    const clock = new FakeClock();
    const seen: DeliveryOutcome[] = [];
    const { transport, attempts: made } = scripted(statuses);
    const dispatcher = new PushDispatcher(binding(consumer), transport, clock, (outcome) => seen.push(outcome), silent);
    const delivery = fakeDelivery();
    dispatcher.handle(delivery);
    await clock.advance(60_000);
    expect(made).toEqual(attempts);
    expect(clock.scheduled).toEqual(delays);
    expect(delivery.settled).toHaveLength(1);
    expect(delivery.settled[0]!.split(':')[0]).toBe(settled);
    expect(seen).toEqual(outcomes);
  });

  it('waits exactly the back-off before the next attempt', async () => {
    const clock = new FakeClock();
    const { transport, attempts } = scripted([500, 500, 200]);
    const dispatcher = new PushDispatcher(binding(consumer), transport, clock, () => undefined, silent);
    dispatcher.handle(fakeDelivery());
    await clock.advance(999);
    expect(attempts).toEqual([1]);
    await clock.advance(1);
    expect(attempts).toEqual([1, 2]);
    await clock.advance(1999);
    expect(attempts).toEqual([1, 2]);
    await clock.advance(1);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('caps the back-off at backOffMaxInterval', async () => {
    const clock = new FakeClock();
    const { transport } = scripted([500]);
    const settings = { maxAttempts: 6, backOffInitialInterval: 100, backOffMultiplier: 3, backOffMaxInterval: 1000 };
    const dispatcher = new PushDispatcher(binding(settings), transport, clock, () => undefined, silent);
    dispatcher.handle(fakeDelivery());
    await clock.advance(60_000);
    expect(clock.scheduled).toEqual([100, 300, 900, 1000, 1000]);
  });

  it('counts a drop, not a dead letter, when deadLetter is false', async () => {
    const clock = new FakeClock();
    const seen: DeliveryOutcome[] = [];
    const { transport } = scripted([500]);
    const dispatcher = new PushDispatcher(binding({ ...consumer, deadLetter: false }), transport, clock, (o) => seen.push(o), silent);
    dispatcher.handle(fakeDelivery());
    await clock.advance(60_000);
    expect(seen).toEqual(['retry', 'retry', 'dropped']);
  });

  it('continues the attempt count of a message the broker redelivered', async () => {
    const clock = new FakeClock();
    const { transport, attempts } = scripted([500]);
    const dispatcher = new PushDispatcher(binding(consumer), transport, clock, () => undefined, silent);
    const delivery = fakeDelivery(2);
    dispatcher.handle(delivery);
    await clock.advance(60_000);
    expect(attempts).toEqual([2, 3]);
    expect(clock.scheduled).toEqual([2000]);
    expect(delivery.settled[0]).toContain('attempt 3 of 3');
  });

  it('gives a message waiting for its retry back to the broker when stopped', async () => {
    const clock = new FakeClock();
    const { transport, attempts } = scripted([500]);
    const dispatcher = new PushDispatcher(binding(consumer), transport, clock, () => undefined, silent);
    const delivery = fakeDelivery();
    dispatcher.handle(delivery);
    await clock.advance(10);
    await dispatcher.stop();
    expect(attempts).toEqual([1]);
    expect(delivery.settled).toEqual(['requeue']);
    expect(dispatcher.inflightCount).toBe(0);
  });
});

/** A listener that keeps what was written to it. */
function fakeListener(mode: 'auto' | 'manual', fail = false): Listener & { events: string[] } {
  const events: string[] = [];
  return {
    mode,
    events,
    write(event, done) {
      events.push(event.toString());
      setImmediate(() => done(fail ? new Error('socket closed') : null));
    },
  };
}

describe('ListenerHub', () => {
  it('acks auto-mode deliveries once written, and requeues when the write fails', async () => {
    const clock = new FakeClock();
    const seen: DeliveryOutcome[] = [];
    const hub = new ListenerHub(binding(), clock, (o) => seen.push(o), silent);
    hub.add(fakeListener('auto'));
    const first = fakeDelivery();
    hub.handle(first);
    await settle();
    expect(first.settled).toEqual(['ack']);
    expect(seen).toEqual(['ack']);

    const broken = new ListenerHub(binding(), clock, () => undefined, silent);
    broken.add(fakeListener('auto', true));
    const second = fakeDelivery();
    broken.handle(second);
    await settle();
    expect(second.settled).toEqual(['requeue']);
    expect(broken.listenerCount).toBe(0);
  });

  it('spreads deliveries over competing listeners, one each', async () => {
    const hub = new ListenerHub(binding(), new FakeClock(), () => undefined, silent);
    const a = fakeListener('auto');
    const b = fakeListener('auto');
    hub.add(a);
    hub.add(b);
    for (let i = 0; i < 6; i++) hub.handle(fakeDelivery());
    await settle();
    expect([a.events.length, b.events.length]).toEqual([3, 3]);
  });

  it('holds a delivery that arrives with no listener for the next one, and gives it back on stop', async () => {
    const hub = new ListenerHub(binding(), new FakeClock(), () => undefined, silent);
    const delivered = fakeDelivery();
    hub.handle(delivered);
    await settle();
    expect(delivered.settled).toEqual([]);
    const listener = fakeListener('auto');
    hub.add(listener);
    await settle();
    expect([listener.events.length, delivered.settled]).toEqual([1, ['ack']]);

    const idle = new ListenerHub(binding(), new FakeClock(), () => undefined, silent);
    const returned = fakeDelivery();
    idle.handle(returned);
    await idle.stop();
    expect(returned.settled).toEqual(['requeue']);
  });

  it.each([
    { name: 'ack', act: (hub: ListenerHub) => hub.ack('m-1'), attempt: 1, settled: ['ack'], outcomes: ['ack'] },
    { name: 'nack with attempts left', act: (hub: ListenerHub) => hub.nack('m-1', true), attempt: 1, settled: ['requeue'], outcomes: ['retry'] },
    { name: 'nack on the last attempt', act: (hub: ListenerHub) => hub.nack('m-1', true), attempt: 3, settled: ['deadLetter'], outcomes: ['dead_letter'] },
    { name: 'nack without requeue', act: (hub: ListenerHub) => hub.nack('m-1', false), attempt: 1, settled: ['deadLetter'], outcomes: ['dead_letter'] },
  ])('manual mode: $name', async ({ act, attempt, settled, outcomes }) => {
    const seen: DeliveryOutcome[] = [];
    const hub = new ListenerHub(binding({ maxAttempts: 3, deadLetter: true }), new FakeClock(), (o) => seen.push(o), silent);
    hub.add(fakeListener('manual'));
    const delivery = fakeDelivery(attempt);
    hub.handle(delivery);
    await settle();
    expect(delivery.settled).toEqual([]);
    expect(await act(hub)).toBe(true);
    expect(delivery.settled.map((s) => s.split(':')[0])).toEqual(settled);
    expect(seen).toEqual(outcomes);
    expect(await hub.ack('m-1')).toBe(false);
  });

  it('redelivers a manual delivery exactly when ackTimeout passes', async () => {
    const clock = new FakeClock();
    const hub = new ListenerHub(binding({ ackTimeout: 5000 }), clock, () => undefined, silent);
    hub.add(fakeListener('manual'));
    const delivery = fakeDelivery();
    hub.handle(delivery);
    await clock.advance(4999);
    expect(delivery.settled).toEqual([]);
    await clock.advance(1);
    expect(delivery.settled).toEqual(['requeue']);
    expect(await hub.ack('m-1')).toBe(false);
  });

  it('gives back what a listener held when it disconnects', async () => {
    const clock = new FakeClock();
    const hub = new ListenerHub(binding(), clock, () => undefined, silent);
    const remove = hub.add(fakeListener('manual'));
    const delivery = fakeDelivery();
    hub.handle(delivery);
    await settle();
    remove();
    await settle();
    expect(delivery.settled).toEqual(['requeue']);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('SSE events', () => {
  it.each([
    ['application/json', '{"a":[1,2]}', { a: [1, 2] }],
    ['application/vnd.order+json', '"x"', 'x'],
    ['text/plain', 'hello', 'hello'],
    ['application/octet-stream', '\u0001\u0002', 'AQI='],
    ['application/json', 'not json', 'not json'],
    ['application/json', '{\r\n  "a": 1\n}\n', { a: 1 }],
  ])('%s payload %j reads as %j', (contentType, body, expected) => {
    expect(JSON.parse(payloadJson({ contentType, payload: Buffer.from(body) }))).toEqual(expected);
  });

  it('formats one message event with id and data', () => {
    const event = formatEvent({ id: 'm-1', payload: Buffer.from('{"n":1}'), contentType: 'application/json', headers: { k: 'v' }, partition: 2, attempt: 1 });
    expect(event.toString()).toBe(
      'id: m-1\nevent: message\ndata: {"id":"m-1","payload":{"n":1},"contentType":"application/json","headers":{"k":"v"},"partition":2,"attempt":1}\n\n',
    );
  });

  it.each([
    ['application/json', Buffer.from('{\r\n  "a": [1, 2],\r\n  "b": "é"\n}\n')],
    ['application/json; charset=utf-8', Buffer.from('\n\n"text"\r')],
    ['application/json', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['application/json', Buffer.from('{"a":\n')],
    ['text/plain', Buffer.from('line one\r\nline two')],
    ['application/octet-stream', Buffer.from([0, 10, 13, 255])],
  ])('writes a %s body as the bytes of the event text, which is valid JSON on one line', (contentType, payload) => {
    const message = { id: 'm\n2', payload, contentType, headers: { k: 'v' }, attempt: 3 };
    const event = formatEvent(message);
    expect(event.equals(Buffer.from(`id: m2\nevent: message\ndata: ${eventData(message)}\n\n`))).toBe(true);
    const lines = event.toString().split('\n');
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[2]!.slice('data: '.length))).toMatchObject({ id: 'm\n2', contentType, attempt: 3 });
  });

  it('carries a JSON body nested far deeper than any recursive printer goes, as sent, on one data line', () => {
    const depth = 200_000;
    const body = `{"nest":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const event = formatEvent({ id: 'deep', payload: Buffer.from(body), contentType: 'application/json', headers: {}, attempt: 1 }).toString();
    const data = event.split('\n').find((line) => line.startsWith('data: '))!;
    expect(event.split('\n')).toHaveLength(5);
    expect(data).toContain(`"payload":${body},`);
  });

  it.each([
    ['application/json', true],
    ['Application/JSON; charset=UTF-8', true],
    [' application/json ', true],
    ['application/vnd.orders.v1+json', true],
    ['application/problem+json; charset=utf-8', true],
    ['application/json, text/plain', false],
    ['application/jsonx', false],
    ['text/json', false],
    ['text/', false],
    ['', false],
    [';;', false],
  ])('%j is a JSON content type: %s', (contentType, json) => {
    expect(isJsonContentType(contentType)).toBe(json);
  });
});

describe('a delivery that cannot be settled or delivered', () => {
  const failing = (attempt = 1) => ({
    ...fakeDelivery(attempt),
    requeue: async () => { throw new Error('broker gone'); },
    deadLetter: async () => { throw new Error('dead letter not published'); },
  });

  it('an ack timeout whose dead letter fails rejects nothing: the broker still holds the message', async () => {
    const clock = new FakeClock();
    const hub = new ListenerHub(binding({ ackTimeout: 100, maxAttempts: 1 }), clock, () => undefined, silent);
    hub.add(fakeListener('manual'));
    hub.handle(failing());
    await clock.advance(100);
    await settle();
    expect(hub.pendingCount).toBe(0);
  });

  it('a push whose dead letter fails rejects nothing, and the dispatcher drains', async () => {
    const clock = new FakeClock();
    const dispatcher = new PushDispatcher(binding({ maxAttempts: 1 }), scripted([400]).transport, clock, () => undefined, silent);
    dispatcher.handle(failing());
    await clock.advance(10);
    await dispatcher.stop();
    expect(dispatcher.inflightCount).toBe(0);
  });

  it('a message that cannot be written as an event is dead-lettered at once and counted, not held', async () => {
    const seen: DeliveryOutcome[] = [];
    const hub = new ListenerHub(binding({ deadLetter: true }), new FakeClock(), (o) => seen.push(o), silent);
    const listener = fakeListener('auto');
    hub.add(listener);
    const unprintable = { ...fakeDelivery(), id: 'x', headers: { bad: 1n as unknown as string } };
    hub.handle(unprintable);
    await settle();
    expect(listener.events).toEqual([]);
    expect(unprintable.settled.map((s) => s.split(':')[0])).toEqual(['deadLetter']);
    expect(seen).toEqual(['dead_letter']);
  });
});
