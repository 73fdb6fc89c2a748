/**
 * RabbitMQ stopped and started again under two streams of sends, one through the rabbit
 * binder directly and one through the sidecar over HTTP (one restart serves both, to keep
 * the suite fast): each goes down and up by itself, and no message that was confirmed
 * (binder) or answered 202 (sidecar) is lost; both consumers resume.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BinderUnavailableError, ConfirmTimeoutError, type Binder, type BinderState } from '../../../runtime/src/binders/binder.ts';
import { startRabbit, stopRabbit, testEnv } from '../../support/env.ts';
import { PushTarget, send, sidecarFrom } from '../runtime/support.ts';
import { collector, inputBinding, message, outputBinding, rabbitBinder, rawRabbit, uniqueDestination, waitFor } from './support.ts';

const binderDestination = uniqueDestination('recovery-binder');
const sidecarDestination = uniqueDestination('recovery-http');
const closing: { close(): Promise<void> }[] = [];

/** Sends until stopped; `send` resolves to the accepted id, or rejects / resolves undefined when refused. */
function stream(send: (id: string) => Promise<string | undefined>) {
  const accepted = new Set<string>();
  const refusals: unknown[] = [];
  let sending = true;
  const done = (async () => {
    for (let i = 0; sending; i++) {
      try {
        const id = await send(`m-${i}`);
        if (id !== undefined) accepted.add(id);
      } catch (error) {
        refusals.push(error);
        // A refused send is retried by its client; this one paces itself like a polite one.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();
  return { accepted, refusals, stop: async () => { sending = false; await done; } };
}

let binder: Binder;
const states: BinderState[] = [];
const binderReceived = collector();
let binderStream: ReturnType<typeof stream>;
let sidecarStream: ReturnType<typeof stream>;
let app: PushTarget;

beforeAll(async () => {
  binder = rabbitBinder();
  closing.push(binder);
  binder.onStateChange((state) => states.push(state));
  await binder.connect();
  await binder.createConsumer(inputBinding(binderDestination, 'g', { concurrency: 16 }), binderReceived.handler);
  const producer = await binder.createProducer(outputBinding(binderDestination));

  app = await PushTarget.start();
  closing.push(app);
  const sidecar = await sidecarFrom([
    `binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }`,
    'bindings:',
    `  output: { direction: output, destination: ${sidecarDestination}, producer: { requiredGroups: [g] } }`,
    `  input: { direction: input, destination: ${sidecarDestination}, group: g, consumer: { concurrency: 16 } }`,
    `app: { port: ${app.port} }`,
  ].join('\n'));
  closing.push(sidecar);

  binderStream = stream(async (id) => {
    await producer.send(message(id));
    return id;
  });
  sidecarStream = stream(async (id) => {
    const response = await send(sidecar, 'output', JSON.stringify({ id }), { 'content-type': 'application/json', 'x-msg-id': id });
    if (response.status === 202) return response.body.id as string;
    throw { status: response.status, retryAfter: response.headers.get('retry-after') };
  });

  const enough = (): boolean => binderStream.accepted.size >= 50 && sidecarStream.accepted.size >= 50;
  await waitFor('50 accepted sends on each stream before the outage', enough);
  await stopRabbit();
  await waitFor('both to notice the outage', () => binder.state === 'down' && sidecarStream.refusals.length > 0);
  const before = [binderStream.accepted.size, sidecarStream.accepted.size] as const;
  await startRabbit();
  await waitFor('50 accepted sends on each stream after the restart', () => binderStream.accepted.size >= before[0] + 50 && sidecarStream.accepted.size >= before[1] + 50, 45_000);
  await Promise.all([binderStream.stop(), sidecarStream.stop()]);
}, 150_000);

afterAll(async () => {
  await startRabbit();
  for (const resource of closing.reverse()) await resource.close();
  const raw = await rawRabbit();
  for (const destination of [binderDestination, sidecarDestination]) {
    await raw.deleteAll({ exchanges: [destination], queues: [`${destination}.g`, `${destination}.g.dlq`] });
  }
  await raw.close();
});

function pushedIds(): string[] {
  return app.received.map((pushed) => pushed.headers['x-msg-id'] as string);
}

function missing(accepted: Set<string>, received: string[]): string[] {
  const got = new Set(received);
  return [...accepted].filter((id) => !got.has(id));
}

it('the binder goes down and up by itself, and every confirmed message is received', async () => {
  await waitFor('every confirmed message', () => missing(binderStream.accepted, binderReceived.ids()).length === 0, 30_000)
    .catch(() => undefined);
  expect(missing(binderStream.accepted, binderReceived.ids())).toEqual([]);
  expect(states).toEqual(['up', 'down', 'up']);
  expect(binderStream.refusals.length).toBeGreaterThan(0);
  for (const refusal of binderStream.refusals) {
    expect(refusal instanceof BinderUnavailableError || refusal instanceof ConfirmTimeoutError).toBe(true);
  }
});

it('the sidecar answers 503 with Retry-After meanwhile, and every 202-answered message reaches the app', async () => {
  await waitFor('every accepted message at the app', () => missing(sidecarStream.accepted, pushedIds()).length === 0, 30_000)
    .catch(() => undefined);
  expect(missing(sidecarStream.accepted, pushedIds())).toEqual([]);
  expect(sidecarStream.refusals.length).toBeGreaterThan(0);
  for (const refusal of sidecarStream.refusals) {
    expect(refusal).toMatchObject({ status: expect.toSatisfy((s: number) => s === 503 || s === 504) });
    if ((refusal as { status: number }).status === 503) expect(refusal).toMatchObject({ retryAfter: expect.stringMatching(/^\d+$/) });
  }
});
