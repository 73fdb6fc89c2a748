/**
 * CloudEvents and W3C trace context through the real RabbitMQ and Kafka: a send in binary or
 * structured mode reaches the broker as `ce_*` headers (as Spring Cloud Function writes them)
 * and the app as `ce-*` headers on push and in SSE events; `traceparent` crosses the broker,
 * continued by the sidecar's own spans, which an OTLP receiver gets with the messaging
 * conventions' names. Without an exporter the trace context passes through unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { otlpTracer } from '../../../runtime/src/tracing/otlp.ts';
import type { Tracer } from '../../../runtime/src/tracing/tracer.ts';
import { testEnv } from '../../support/env.ts';
import { OtlpReceiver } from '../../support/otlp-receiver.ts';
import { headerText, rawKafka } from '../kafka/support.ts';
import { rawRabbit } from '../rabbit/support.ts';
import { deleteRabbitObjects, PushTarget, send, sidecarFrom, silent, SseReader, unique, waitFor } from './support.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
const traceparent = `00-${TRACE}-${CALLER_SPAN}-01`;
const binaryEvent = { 'ce-specversion': '1.0', 'ce-id': 'order-1', 'ce-source': '/shop/orders', 'ce-type': 'shop.order.created', 'ce-subject': 'café' };

const kafka = rawKafka();
const cleanups: Array<() => Promise<unknown>> = [];
let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await kafka.cleanup();
  await receiver.close();
});

function binderYaml(broker: 'rabbit' | 'kafka'): string {
  const env = testEnv();
  return broker === 'rabbit'
    ? `binders: { b: { type: rabbit, rabbit: { url: "${env.rabbitUrl}" } } }`
    : `binders: { b: { type: kafka, kafka: { brokers: [${env.kafkaBrokers.join(', ')}] } } }`;
}

/** A sidecar with an output and a push input (to an app) on one destination, and an SSE listener on it. */
async function events(broker: 'rabbit' | 'kafka', tracer?: Tracer) {
  const destination = unique(`events-${broker}`);
  const app = await PushTarget.start();
  const sidecar: RunningSidecar = await sidecarFrom([
    binderYaml(broker),
    'bindings:',
    `  out: { direction: output, destination: ${destination}${broker === 'rabbit' ? ', producer: { requiredGroups: [raw] }' : ''} }`,
    `  pushed: { direction: input, destination: ${destination}, group: pushed }`,
    `app: { port: ${app.port} }`,
  ].join('\n'), { ...(tracer && { tracer }) });
  // A sidecar with an app port pushes every input, so the SSE listener has a sidecar of its own.
  const listenerSidecar = await sidecarFrom([binderYaml(broker), 'bindings:', `  pulled: { direction: input, destination: ${destination}, group: sse }`].join('\n'));
  cleanups.push(() => app.close(), () => sidecar.close(), () => listenerSidecar.close());
  if (broker === 'rabbit') cleanups.push(() => deleteRabbitObjects(destination));
  const listener = await SseReader.open(`${listenerSidecar.apiUrl}/v1/listen/pulled`);
  cleanups.push(() => listener.close());
  for (const [s, name] of [[sidecar, 'pushed'], [listenerSidecar, 'pulled']] as const) {
    await waitFor(`${name} to consume`, () => s.sidecar.bindings().find((b) => b.name === name)?.consuming === true, 30_000);
  }
  return { destination, app, sidecar, listener, pushed: () => app.received.filter((r) => r.path === '/pushed') };
}

/**
 * The headers of the messages the broker holds: Kafka's topic read from its start (all
 * `count`), RabbitMQ's `raw` queue taken from (the next `count`).
 */
async function onTheBroker(broker: 'rabbit' | 'kafka', destination: string, count: number): Promise<Array<Record<string, string>>> {
  if (broker === 'kafka') {
    const records = await kafka.read(destination, count);
    return records.map((r) => Object.fromEntries(Object.keys(r.headers ?? {}).map((name) => [name, headerText(r.headers, name)!])));
  }
  const raw = await rawRabbit();
  try {
    const messages = [];
    for (let i = 0; i < count; i++) messages.push((await raw.getOne(`${destination}.raw`)).properties.headers as Record<string, string>);
    return messages;
  } finally {
    await raw.close();
  }
}

describe.each(['rabbit', 'kafka'] as const)('on %s', (broker) => {
  let setup: Awaited<ReturnType<typeof events>>;
  let tracer: Tracer;

  beforeAll(async () => {
    tracer = otlpTracer({ url: `${receiver.endpoint}/v1/traces`, headers: {}, resource: { 'service.name': `sidecar-${broker}` }, delayMs: 100, maxQueue: 1000, timeoutMs: 5_000 }, silent);
    setup = await events(broker, tracer);
    cleanups.push(() => tracer.close());
  });

  it('a binary-mode CloudEvent keeps its attributes as ce_* on the broker and comes back as ce-* on push and SSE', async () => {
    const { sidecar, app, listener, destination, pushed } = setup;
    const sent = await send(sidecar, 'out', '{"total":12}', { 'content-type': 'application/json', ...binaryEvent, 'ce-subject': 'caf%C3%A9' });
    expect(sent.status).toBe(202);

    await waitFor('the push', () => pushed().length === 1, 20_000);
    const push = pushed()[0]!;
    expect(push.body).toBe('{"total":12}');
    expect(push.headers).toMatchObject({ ...binaryEvent, 'ce-subject': 'caf%C3%A9', 'content-type': 'application/json' });
    expect(Object.keys(push.headers).filter((h) => h.startsWith('x-msg-ce'))).toEqual([]);

    await waitFor('the SSE event', () => listener.events.length === 1, 20_000);
    expect(listener.events[0]!.data).toMatchObject({ payload: { total: 12 }, contentType: 'application/json', headers: { ...binaryEvent } });

    const [held] = await onTheBroker(broker, destination, 1);
    expect(held).toMatchObject({ ce_specversion: '1.0', ce_id: 'order-1', ce_source: '/shop/orders', ce_type: 'shop.order.created', ce_subject: 'café' });
    app.received.length = 0;
  });

  it('a structured-mode CloudEvent travels in binary mode: the data as the body, its content type, the attributes as ce_*', async () => {
    const { sidecar, listener, destination, pushed } = setup;
    const event = { specversion: '1.0', id: 'order-2', source: '/shop/orders', type: 'shop.order.created', datacontenttype: 'application/json', data: { total: 30 } };
    const sent = await send(sidecar, 'out', JSON.stringify(event), { 'content-type': 'application/cloudevents+json; charset=utf-8' });
    expect(sent.status).toBe(202);

    await waitFor('the push', () => pushed().length === 1, 20_000);
    expect(pushed()[0]!.body).toBe('{"total":30}');
    expect(pushed()[0]!.headers).toMatchObject({ 'ce-id': 'order-2', 'ce-source': '/shop/orders', 'ce-type': 'shop.order.created', 'ce-specversion': '1.0', 'content-type': 'application/json' });
    await waitFor('the SSE event', () => listener.events.length === 2, 20_000);
    expect(listener.events[1]!.data).toMatchObject({ payload: { total: 30 }, headers: { 'ce-id': 'order-2', 'ce-type': 'shop.order.created' } });
    const held = await onTheBroker(broker, destination, broker === 'kafka' ? 2 : 1);
    expect(held.at(-1)).toMatchObject({ ce_id: 'order-2', ce_specversion: '1.0' });
  });

  it('refuses a CloudEvent without its required attributes, naming them', async () => {
    const response = await send(setup.sidecar, 'out', '{}', { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'x' });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ code: 'BINDERY_ERR_INVALID_REQUEST', message: 'the ce-* headers are no CloudEvent: the required attribute(s) source, type are missing' });
  });

  it('continues the caller\'s trace across the broker, and exports send and process spans with the messaging conventions', async () => {
    const { sidecar, listener, destination, pushed } = setup;
    const sent = await send(sidecar, 'out', '{"n":3}', { 'content-type': 'application/json', 'x-msg-id': `traced-${broker}`, traceparent, tracestate: 'shop=1' });
    expect(sent.status).toBe(202);
    await waitFor('the push', () => pushed().some((p) => p.body === '{"n":3}'), 20_000);
    const push = pushed().find((p) => p.body === '{"n":3}')!;

    await waitFor('both spans at the receiver', () => receiver.spans.filter((s) => s.attributes['messaging.message.id'] === `traced-${broker}`).length === 2, 10_000);
    const spans = receiver.spans.filter((s) => s.attributes['messaging.message.id'] === `traced-${broker}`);
    const sendSpan = spans.find((s) => s.kind === 4)!;
    const processSpan = spans.find((s) => s.kind === 5)!;
    const system = broker === 'rabbit' ? 'rabbitmq' : 'kafka';
    expect(sendSpan).toMatchObject({
      traceId: TRACE, parentSpanId: CALLER_SPAN, traceState: 'shop=1', name: `send ${destination}`,
      attributes: { 'messaging.system': system, 'messaging.operation.type': 'send', 'messaging.operation.name': 'send', 'messaging.destination.name': destination, 'messaging.message.body.size': 7 },
      resource: { 'service.name': `sidecar-${broker}` },
    });
    expect(processSpan).toMatchObject({
      traceId: TRACE, parentSpanId: sendSpan.spanId, name: `process ${destination}`,
      attributes: { 'messaging.system': system, 'messaging.operation.type': 'process', 'messaging.consumer.group.name': 'pushed', 'messaging.destination.name': destination },
    });
    if (broker === 'kafka') expect(sendSpan.attributes['messaging.destination.partition.id']).toBe('0');
    expect(BigInt(sendSpan.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(sendSpan.startTimeUnixNano));

    // The app's request is a child of the process span; the message on the broker, of the send span.
    expect(push.headers.traceparent).toBe(`00-${TRACE}-${processSpan.spanId}-01`);
    expect(push.headers.tracestate).toBe('shop=1');
    const held = await onTheBroker(broker, destination, broker === 'kafka' ? 3 : 1);
    expect(held.at(-1)).toMatchObject({ traceparent: `00-${TRACE}-${sendSpan.spanId}-01`, tracestate: 'shop=1' });
    await waitFor('the SSE event', () => listener.events.some((e) => e.id === `traced-${broker}`), 20_000);
    // The SSE listener's sidecar exports nothing: it hands on what the message carries.
    expect(listener.events.find((e) => e.id === `traced-${broker}`)!.data.headers).toMatchObject({ traceparent: `00-${TRACE}-${sendSpan.spanId}-01`, tracestate: 'shop=1' });
    expect(receiver.refused).toEqual([]);
  });
});

describe('without an OTLP endpoint', () => {
  it('passes the trace context through unchanged and exports nothing', async () => {
    const { sidecar, pushed } = await events('rabbit');
    const before = receiver.spans.length;
    const sent = await send(sidecar, 'out', '{"n":4}', { 'content-type': 'application/json', traceparent, tracestate: 'shop=2' });
    expect(sent.status).toBe(202);
    await waitFor('the push', () => pushed().length === 1, 20_000);
    expect(pushed()[0]!.headers).toMatchObject({ traceparent, tracestate: 'shop=2' });
    expect(receiver.spans.length).toBe(before);
  });

  it('drops a traceparent the W3C spec says to ignore, and still sends', async () => {
    const { sidecar, pushed } = await events('rabbit');
    const sent = await send(sidecar, 'out', '{"n":5}', { 'content-type': 'application/json', traceparent: 'garbage', tracestate: 'shop=3' });
    expect(sent.status).toBe(202);
    await waitFor('the push', () => pushed().length === 1, 20_000);
    expect(pushed()[0]!.headers.traceparent).toBeUndefined();
    expect(pushed()[0]!.headers.tracestate).toBeUndefined();
  });
});

