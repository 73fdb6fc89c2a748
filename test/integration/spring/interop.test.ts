/**
 * A Spring Cloud Stream service (Spring Boot 3.5, spring-cloud-stream 4.3, test/fixtures/
 * spring-app) and a Bindery sidecar on the same broker, each reading what the other sends: a
 * Spring user moving one service at a time to Bindery relies on exactly this.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { prepareSpringApp, SpringApp, springAppBuildTimeoutMs, type SpringProperties } from '../../support/spring-app.ts';
import { rawKafka } from '../kafka/support.ts';
import { deleteRabbitObjects, delay, PushTarget, send, sidecarFrom, unique } from '../runtime/support.ts';
import { waitFor } from '../../support/wait.ts';

const prefix = unique('spring');
const raw = rawKafka();

beforeAll(prepareSpringApp, springAppBuildTimeoutMs);
afterAll(async () => {
  await deleteRabbitObjects(prefix);
  await raw.cleanup();
});

const binders = {
  rabbit: () => `rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } }`,
  kafka: () => `kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } }`,
};

/**
 * A Spring service and a sidecar on `binder`: one destination for each direction, with a group
 * on the receiving side. `springConsumer` adds properties to the Spring consumer's binding.
 */
function pair(binder: 'rabbit' | 'kafka', springConsumer: SpringProperties = {}) {
  const toSpring = `${prefix}-${binder}-to-spring`;
  const toBindery = `${prefix}-${binder}-to-bindery`;
  const [springGroup, binderyGroup] = [`${prefix}-spring`, `${prefix}-bindery`];
  const running = {} as { spring: SpringApp; sidecar: RunningSidecar; app: PushTarget; toSpring: string };

  beforeAll(async () => {
    raw.track({ topics: [toSpring, toBindery], groups: [springGroup, binderyGroup] });
    running.toSpring = toSpring;
    running.app = await PushTarget.start();
    [running.spring, running.sidecar] = await Promise.all([
      SpringApp.start({
        name: `interop-${binder}`,
        binder,
        properties: {
          'spring.cloud.function.definition': 'receive',
          'spring.cloud.stream.bindings.receive-in-0.destination': toSpring,
          'spring.cloud.stream.bindings.receive-in-0.group': springGroup,
          ...Object.fromEntries(Object.entries(springConsumer).map(([k, v]) => [`spring.cloud.stream.bindings.receive-in-0.consumer.${k}`, v])),
          'spring.cloud.stream.bindings.out.destination': toBindery,
        },
      }),
      sidecarFrom(`binders: { ${binders[binder]()} }
bindings:
  output: { direction: output, destination: ${toSpring} }
  input: { direction: input, destination: ${toBindery}, group: ${binderyGroup} }
app: { port: ${running.app.port} }`),
    ]);
    await waitFor('the sidecar input to consume', () => running.sidecar.sidecar.bindings().find((b) => b.name === 'input')?.consuming === true, 30_000);
  }, 120_000);

  afterAll(async () => {
    await running.spring?.stop();
    await running.sidecar?.close();
    await running.app?.close();
  });
  return running;
}

type Pair = ReturnType<typeof pair>;

async function binderyToSpring({ spring, sidecar, toSpring }: Pair): Promise<void> {
  const sent = [
    { body: JSON.stringify({ id: 1, text: 'first' }), contentType: 'application/json' },
    { body: JSON.stringify({ id: 2, text: 'second' }), contentType: 'application/json' },
    { body: 'plain words', contentType: 'text/plain' },
  ];
  for (const [i, message] of sent.entries()) {
    const answer = await send(sidecar, 'output', message.body, { 'content-type': message.contentType, 'x-msg-origin': `bindery-${i}` });
    expect(answer.status).toBe(202);
  }
  await spring.receivedAtLeast(sent.length);
  // Anything delivered twice would arrive within this pause.
  await delay(500);
  const received = await spring.received();
  expect(received.map((r) => r.payload)).toEqual(sent.map((m) => m.body));
  expect(received.map((r) => String(r.headers.contentType?.value))).toEqual(sent.map((m) => m.contentType));
  expect(received.map((r) => String(r.headers.origin?.value))).toEqual(['bindery-0', 'bindery-1', 'bindery-2']);
  expect(received.every((r) => r.destination === toSpring)).toBe(true);
}

async function springToBindery({ spring, app }: Pair): Promise<void> {
  await spring.send({ binding: 'out', json: { id: 7, text: 'from spring' } });
  await spring.send({ binding: 'out', text: 'plain words from spring', contentType: 'text/plain' });
  await waitFor('two pushes from the sidecar', () => app.received.length >= 2, 20_000);
  await delay(500);
  expect(app.received.map((r) => [r.body, r.headers['content-type']])).toEqual([
    [JSON.stringify({ id: 7, text: 'from spring' }), 'application/json'],
    ['plain words from spring', 'text/plain'],
  ]);
}

describe('a Spring Cloud Stream service and a Bindery sidecar on RabbitMQ', () => {
  const rabbit = pair('rabbit');
  it('Bindery -> Spring: the Spring consumer gets each message once, with its payload, content type and headers', () => binderyToSpring(rabbit));
  it('Spring -> Bindery: the sidecar pushes each message StreamBridge sent, with its payload and content type', () => springToBindery(rabbit));
});

describe('a Spring Cloud Stream service and a Bindery sidecar on Kafka', () => {
  // Spring's message conversion refuses a contentType header that arrives as raw bytes without
  // spring_json_header_types, as Bindery writes it; a consumer with native decoding takes the
  // record as it is.
  const kafka = pair('kafka', { 'use-native-decoding': true });
  it('Bindery -> Spring: a Spring consumer with native decoding gets each message once, with its payload, content type and headers', () => binderyToSpring(kafka));
  it('Spring -> Bindery: the sidecar pushes each message StreamBridge sent, with its payload and content type', () => springToBindery(kafka));
});
