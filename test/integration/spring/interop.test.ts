/**
 * A Spring Cloud Stream service (Spring Boot 3.5, spring-cloud-stream 4.3, test/fixtures/
 * spring-app) and a Bindery sidecar on the same broker, each reading what the other sends: a
 * Spring user moving one service at a time to Bindery relies on exactly this. The Spring
 * consumer has Spring's defaults (no native decoding): it reads Bindery's headers, the content
 * type included, as the Java types Spring's own producers give them, and the sidecar hands
 * Spring's typed headers to the app as `x-msg-*` text (SPEC section 2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareSpringApp, springAppBuildTimeoutMs } from '../../support/spring-app.ts';
import { rawKafka } from '../kafka/support.ts';
import { deleteRabbitObjects, delay, send, unique } from '../runtime/support.ts';
import { waitFor } from '../../support/wait.ts';
import { springPair, type SpringPair } from './support.ts';

const prefix = unique('spring');
const raw = rawKafka();

beforeAll(prepareSpringApp, springAppBuildTimeoutMs);
afterAll(async () => {
  await deleteRabbitObjects(prefix);
  await raw.cleanup();
});


async function binderyToSpring({ spring, sidecar, toSpring }: SpringPair): Promise<void> {
  const sent = [
    { body: JSON.stringify({ id: 1, text: 'first' }), contentType: 'application/json' },
    { body: JSON.stringify({ id: 2, text: 'second' }), contentType: 'application/json' },
    { body: 'plain words', contentType: 'text/plain' },
  ];
  for (const [i, message] of sent.entries()) {
    const answer = await send(sidecar, 'output', message.body, { 'content-type': message.contentType, 'x-msg-origin': `bindery-${i}`, 'x-msg-count': String(i + 5) });
    expect(answer.status).toBe(202);
  }
  await spring.receivedAtLeast(sent.length);
  // Anything delivered twice would arrive within this pause.
  await delay(500);
  const received = await spring.received();
  expect(received.map((r) => r.payload)).toEqual(sent.map((m) => m.body));
  expect(received.every((r) => r.destination === toSpring)).toBe(true);
  // The content type reaches the function as that of a Spring producer's message does (Spring's
  // conversion makes a MimeType of the String the record carried; a byte[] it refuses).
  expect(received.map((r) => r.headers.contentType)).toEqual(sent.map((m) => ({ type: 'org.springframework.util.MimeType', value: m.contentType })));
  expect((await spring.errors()).map((e) => e.causes.join(' | ')).filter((cause) => cause.includes('contentType'))).toEqual([]);
  // HTTP header values are text: a Spring consumer reads each as a String, the numeric-looking one too.
  expect(received.map((r) => r.headers.origin)).toEqual([0, 1, 2].map((i) => ({ type: 'java.lang.String', value: `bindery-${i}` })));
  expect(received.map((r) => r.headers.count)).toEqual([0, 1, 2].map((i) => ({ type: 'java.lang.String', value: String(i + 5) })));
}

async function springToBindery({ spring, app }: SpringPair): Promise<void> {
  await spring.send({ binding: 'out', json: { id: 7, text: 'from spring' }, headers: { name: 'acme', count: 5, big: 3_000_000_000, flag: true } });
  await spring.send({ binding: 'out', text: 'plain words from spring', contentType: 'text/plain' });
  await waitFor('two pushes from the sidecar', () => app.received.length >= 2, 20_000);
  await delay(500);
  expect(app.received.map((r) => [r.body, r.headers['content-type']])).toEqual([
    [JSON.stringify({ id: 7, text: 'from spring' }), 'application/json'],
    ['plain words from spring', 'text/plain'],
  ]);
  // Spring's String, Integer, Long and Boolean headers reach the app as their text.
  expect(app.received[0]!.headers).toMatchObject({ 'x-msg-name': 'acme', 'x-msg-count': '5', 'x-msg-big': '3000000000', 'x-msg-flag': 'true' });
}

describe('a Spring Cloud Stream service and a Bindery sidecar on RabbitMQ', () => {
  const rabbit = springPair('interop', 'rabbit', prefix, raw);
  it('Bindery -> Spring: the Spring consumer gets each message once, with its payload, content type and headers as Strings', () => binderyToSpring(rabbit));
  it('Spring -> Bindery: the sidecar pushes each message StreamBridge sent, with its payload, content type and typed headers as text', () => springToBindery(rabbit));
});

describe('a Spring Cloud Stream service and a Bindery sidecar on Kafka', () => {
  const kafka = springPair('interop', 'kafka', prefix, raw);
  it('Bindery -> Spring: a Spring consumer with default settings gets each message once, with its content type and headers as Strings (spring_json_header_types)', () => binderyToSpring(kafka));
  it('Spring -> Bindery: the sidecar pushes each message StreamBridge sent, with its payload, content type and typed headers as text', () => springToBindery(kafka));
});
