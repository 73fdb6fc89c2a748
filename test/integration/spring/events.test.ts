/**
 * CloudEvents and W3C trace context between a Spring Cloud Stream service (test/fixtures/
 * spring-app) and a Bindery sidecar, both ways, on RabbitMQ and Kafka: what Spring Cloud
 * Function's CloudEventMessageUtils reads from Bindery's messages, and what a Bindery app gets
 * from a CloudEvent Spring's CloudEventMessageBuilder made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareSpringApp, springAppBuildTimeoutMs } from '../../support/spring-app.ts';
import { headerText, rawKafka } from '../kafka/support.ts';
import { rawRabbit } from '../rabbit/support.ts';
import { deleteRabbitObjects, send, unique } from '../runtime/support.ts';
import { waitFor } from '../../support/wait.ts';
import { springPair, type BrokerType, type SpringPair } from './support.ts';

const prefix = unique('spring-events');
const raw = rawKafka();
const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

beforeAll(prepareSpringApp, springAppBuildTimeoutMs);
afterAll(async () => {
  await deleteRabbitObjects(prefix);
  await raw.cleanup();
});


async function binderyToSpring({ spring, sidecar }: SpringPair): Promise<void> {
  const binary = await send(sidecar, 'output', '{"total":12}', {
    'content-type': 'application/json',
    'ce-specversion': '1.0', 'ce-id': 'order-1', 'ce-source': '/shop/orders', 'ce-type': 'shop.order.created', 'ce-subject': 'o-1',
    traceparent,
  });
  expect(binary.status).toBe(202);
  const structured = await send(sidecar, 'output', JSON.stringify({
    specversion: '1.0', id: 'order-2', source: '/shop/orders', type: 'shop.order.paid', datacontenttype: 'application/json', data: { total: 30 },
  }), { 'content-type': 'application/cloudevents+json' });
  expect(structured.status).toBe(202);

  const received = await spring.receivedAtLeast(2);
  expect(received.map((r) => r.payload)).toEqual(['{"total":12}', '{"total":30}']);
  expect(received.map((r) => r.cloudEvent)).toEqual([
    { specversion: '1.0', id: 'order-1', source: '/shop/orders', type: 'shop.order.created', subject: 'o-1' },
    { specversion: '1.0', id: 'order-2', source: '/shop/orders', type: 'shop.order.paid', subject: null },
  ]);
  // The fixture runs no Micrometer tracing: the trace context reaches it as the plain header it is.
  expect(received[0]!.headers.traceparent).toEqual({ type: 'java.lang.String', value: traceparent });
}

async function springToBindery({ spring, app, toBindery }: SpringPair, binder: BrokerType): Promise<void> {
  const rabbit = binder === 'rabbit' ? await rawRabbit() : undefined;
  // A queue of its own on the exchange shows what Spring wrote, beside the sidecar's group queue.
  await rabbit?.channel.assertQueue(`${toBindery}.raw`, { autoDelete: true });
  await rabbit?.channel.bindQueue(`${toBindery}.raw`, toBindery, '#');
  await spring.send({
    binding: 'out',
    json: { total: 7 },
    cloudEvent: { id: 'spring-1', source: 'https://spring.io/shop', type: 'shop.order.shipped', subject: 's-1' },
    headers: { traceparent },
  });
  await waitFor('the push from the sidecar', () => app.received.length >= 1, 20_000);
  const push = app.received[0]!;
  expect(push.body).toBe('{"total":7}');
  expect(push.headers).toMatchObject({
    'ce-specversion': '1.0', 'ce-id': 'spring-1', 'ce-source': 'https://spring.io/shop', 'ce-type': 'shop.order.shipped', 'ce-subject': 's-1',
    traceparent,
  });
  // What Spring wrote, which the sidecar reads whichever of Spring's prefixes it has: AMQP's
  // `cloudEvents:` on RabbitMQ (the binder's target protocol is amqp), `ce_` on Kafka.
  if (rabbit) {
    const message = await rabbit.getOne(`${toBindery}.raw`);
    await rabbit.close();
    expect(message.properties.headers).toMatchObject({ 'cloudEvents:id': 'spring-1', 'cloudEvents:specversion': '1.0', 'target-protocol': 'amqp' });
  } else {
    const [record] = await raw.read(toBindery, 1);
    expect(headerText(record!.headers, 'ce_id')).toBe('spring-1');
    expect(headerText(record!.headers, 'ce_specversion')).toBe('1.0');
  }
}

describe('CloudEvents and trace context between Spring and Bindery on RabbitMQ', () => {
  const rabbit = springPair('events', 'rabbit', prefix, raw);
  it('Bindery -> Spring: CloudEventMessageUtils reads binary and structured sends as CloudEvents; traceparent arrives as its header', () => binderyToSpring(rabbit));
  it('Spring -> Bindery: a CloudEvent from CloudEventMessageBuilder reaches the app as ce-* headers, with its traceparent', () => springToBindery(rabbit, 'rabbit'));
});

describe('CloudEvents and trace context between Spring and Bindery on Kafka', () => {
  const kafka = springPair('events', 'kafka', prefix, raw);
  it('Bindery -> Spring: CloudEventMessageUtils reads binary and structured sends as CloudEvents; traceparent arrives as its header', () => binderyToSpring(kafka));
  it('Spring -> Bindery: a CloudEvent from CloudEventMessageBuilder reaches the app as ce-* headers, with its traceparent', () => springToBindery(kafka, 'kafka'));
});
