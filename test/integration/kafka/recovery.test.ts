/**
 * Kafka stopped and started again under two streams of sends, one through the kafka binder
 * and one through the sidecar over HTTP (one restart serves both): the binder reports down
 * and up, sends are refused while Kafka is away (503 with Retry-After over HTTP), and every
 * message that was acknowledged (binder) or answered 202 (sidecar) is received after it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BinderUnavailableError, ConfirmTimeoutError, type Binder, type BinderState } from '../../../runtime/src/binders/binder.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { startKafka, stopKafka, testEnv } from '../../support/env.ts';
import { PushTarget, send, sidecarFrom } from '../runtime/support.ts';
import { collector, inputBinding, kafkaBinder, message, outputBinding, rawKafka, uniqueDestination, waitFor } from './support.ts';

const binderDestination = uniqueDestination('kafka-recovery-binder');
const sidecarDestination = uniqueDestination('kafka-recovery-http');
const group = uniqueDestination('kafka-recovery-g');
const sidecarGroup = uniqueDestination('kafka-recovery-http-g');
const raw = rawKafka();
raw.track({
  topics: [binderDestination, sidecarDestination, `error.${binderDestination}.${group}`, `error.${sidecarDestination}.${sidecarGroup}`],
  groups: [group, sidecarGroup],
});

/** Sends until stopped; `send` resolves to the accepted id, or rejects when refused. */
function stream(sendOne: (id: string) => Promise<string>) {
  const accepted = new Set<string>();
  const refusals: unknown[] = [];
  let sending = true;
  const done = (async () => {
    for (let i = 0; sending; i++) {
      try {
        accepted.add(await sendOne(`m-${i}`));
      } catch (error) {
        refusals.push(error);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  })();
  return { accepted, refusals, stop: async () => { sending = false; await done; } };
}

/**
 * After the restart the group waits for its old members' sessions to expire before it
 * rebalances; on a loaded two-core machine that has taken over a minute. This test is about
 * loss, not speed: a missing message still fails it, naming the ids.
 */
const RECEIVE_WITHIN = 150_000;

let binder: Binder;
let sidecar: RunningSidecar;
let app: PushTarget;
const states: BinderState[] = [];
const received = collector();
let binderStream: ReturnType<typeof stream>;
let sidecarStream: ReturnType<typeof stream>;

beforeAll(async () => {
  binder = kafkaBinder();
  binder.onStateChange((state) => states.push(state));
  await binder.connect();
  await binder.createConsumer(inputBinding(binderDestination, group, { concurrency: 4 }), received.handler);
  const producer = await binder.createProducer(outputBinding(binderDestination));

  app = await PushTarget.start();
  const brokers = testEnv().kafkaBrokers.join(', ');
  sidecar = await sidecarFrom(`binders:\n  kafka: { type: kafka, kafka: { brokers: [${brokers}] } }
bindings:
  output: { direction: output, destination: ${sidecarDestination} }
  input: { direction: input, destination: ${sidecarDestination}, group: ${sidecarGroup}, consumer: { concurrency: 4 } }
app: { port: ${app.port} }
`);

  binderStream = stream(async (id) => {
    await producer.send(message(id));
    return id;
  });
  sidecarStream = stream(async (id) => {
    const response = await send(sidecar, 'output', JSON.stringify({ id }), { 'content-type': 'application/json', 'x-msg-id': id });
    if (response.status === 202) return id;
    throw { status: response.status, retryAfter: response.headers.get('retry-after'), code: response.body.code };
  });

  await waitFor('30 accepted sends on each stream', () => binderStream.accepted.size >= 30 && sidecarStream.accepted.size >= 30);
  await stopKafka();
  await waitFor('both to notice the outage', () => binder.state === 'down' && sidecarStream.refusals.length > 0 && binderStream.refusals.length > 0, 30_000);
  const before = [binderStream.accepted.size, sidecarStream.accepted.size] as const;
  await startKafka();
  await waitFor('30 accepted sends on each stream after the restart', () => binderStream.accepted.size >= before[0] + 30 && sidecarStream.accepted.size >= before[1] + 30, 60_000);
  await Promise.all([binderStream.stop(), sidecarStream.stop()]);
}, 180_000);

afterAll(async () => {
  await sidecar?.close();
  await app?.close();
  await binder?.close();
  await startKafka();
  await raw.cleanup();
});

it('the binder went down and came back up', () => {
  const down = states.indexOf('down');
  expect(down).toBeGreaterThanOrEqual(0);
  expect(states.slice(down)).toContain('up');
  expect(binder.state).toBe('up');
});

it('refused sends while Kafka was away: BinderUnavailableError, and 503 with Retry-After over HTTP', () => {
  // A send in flight when Kafka went away may instead time out waiting for its acks.
  const unavailable = binderStream.refusals.filter((e) => e instanceof BinderUnavailableError);
  expect(binderStream.refusals.filter((e) => !(e instanceof ConfirmTimeoutError)).length).toBe(unavailable.length);
  expect(unavailable.length).toBeGreaterThan(0);
  const refused = sidecarStream.refusals.filter((r) => (r as { status: number }).status !== 504);
  expect(refused.length).toBeGreaterThan(0);
  for (const refusal of refused) {
    expect(refusal).toMatchObject({ status: 503, code: 'BINDERY_ERR_BINDER_UNAVAILABLE', retryAfter: expect.any(String) });
  }
});

it('every acknowledged message sent through the binder is received', async () => {
  await waitFor('every accepted message', () => {
    const ids = new Set(received.ids());
    const left = [...binderStream.accepted].filter((id) => !ids.has(id));
    if (left.length === 0) return true;
    throw new Error(`${left.length} of ${binderStream.accepted.size} not received (${left.slice(0, 5).join(', ')}); ${ids.size} received so far`);
  }, RECEIVE_WITHIN);
  expect(new Set(received.ids())).toEqual(new Set([...binderStream.accepted, ...received.ids()]));
}, RECEIVE_WITHIN + 10_000);

it('every message answered 202 by the sidecar is pushed to the app', async () => {
  const pushed = () => new Set(app.bodies().map((b) => (JSON.parse(b) as { id: string }).id));
  const missing = () => [...sidecarStream.accepted].filter((id) => !pushed().has(id));
  await waitFor('every 202-answered message', () => {
    const left = missing();
    if (left.length === 0) return true;
    // Thrown, so that a timeout says which messages are missing and how far the pushes got.
    throw new Error(`${left.length} of ${sidecarStream.accepted.size} not pushed (${left.slice(0, 5).join(', ')}); ${app.bodies().length} pushes so far`);
  }, RECEIVE_WITHIN);
  expect(missing()).toEqual([]);
}, RECEIVE_WITHIN + 10_000);
