/**
 * An anonymous RabbitMQ input pulled over SSE (SPEC section 2): its queue
 * `<destination>.anonymous.<id>` exists from the binding's start until the sidecar stops, as
 * a Spring consumer's would, whether or not a listener is connected. What is sent while no
 * listener is connected waits in it for the next one; nothing sent before the sidecar started
 * (nor after it stopped) is in it.
 */
import { afterAll, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { managementApi, testEnv } from '../../support/env.ts';
import { delay, send, sidecarFrom, SseReader, waitFor } from '../runtime/support.ts';
import { rawRabbit, uniqueDestination } from './support.ts';

const destination = uniqueDestination('anonymous-pull');
let sidecar: RunningSidecar | undefined;
const listeners: SseReader[] = [];

afterAll(async () => {
  await Promise.all(listeners.map((l) => l.close()));
  await sidecar?.close();
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination] });
  await raw.close();
});

interface QueueInfo {
  name: string;
  durable: boolean;
  exclusive: boolean;
  auto_delete: boolean;
  messages?: number;
}

async function anonymousQueues(): Promise<QueueInfo[]> {
  const queues = (await managementApi<QueueInfo[]>('/queues/%2F?columns=name,durable,exclusive,auto_delete')) ?? [];
  return queues.filter((q) => q.name.startsWith(`${destination}.anonymous.`));
}

const payloads = (listener: SseReader) => listener.events.map((e) => (e.data.payload as { n: number }).n);

it('holds one queue from start to stop, and keeps what arrives while no listener is connected', async () => {
  sidecar = await sidecarFrom(`binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings:
  output: { direction: output, destination: ${destination} }
  input: { direction: input, destination: ${destination} }`);
  const sendN = async (n: number) => expect((await send(sidecar!, 'output', JSON.stringify({ n }))).status).toBe(202);

  // From the binding's start, before any listener: the queue exists and the binding consumes.
  // The queue is declared a moment before basic.consume is answered, so wait for both.
  const input = () => sidecar!.sidecar.bindings().find((b) => b.name === 'input');
  const [queue] = await waitFor('the anonymous queue, consumed by the binding', async () => {
    const found = await anonymousQueues();
    return found.length > 0 && input()?.consuming === true ? found : undefined;
  }, 15_000);
  expect(queue).toMatchObject({ durable: false, exclusive: true, auto_delete: true });
  expect(input()).toMatchObject({ group: null, delivery: 'pull', listeners: 0, consuming: true });

  await sendN(1);
  await sendN(2);
  await sendN(3);
  const first = await SseReader.open(`${sidecar.apiUrl}/v1/listen/input`);
  listeners.push(first);
  await waitFor('the three messages sent before the listener came', () => first.events.length >= 3, 10_000);
  expect(payloads(first)).toEqual([1, 2, 3]);

  // Between two listeners: the same queue stays, and keeps what is sent meanwhile.
  await first.close();
  await waitFor('the listener to leave', () => input()?.listeners === 0);
  await sendN(4);
  await sendN(5);
  await delay(300);
  expect((await anonymousQueues()).map((q) => q.name)).toEqual([queue!.name]);
  const second = await SseReader.open(`${sidecar.apiUrl}/v1/listen/input`);
  listeners.push(second);
  await waitFor('the two messages sent between the listeners', () => second.events.length >= 2, 10_000);
  await delay(300);
  expect(payloads(second)).toEqual([4, 5]);
  expect(payloads(first)).toEqual([1, 2, 3]);

  // The sidecar stops: its queue goes with it.
  await second.close();
  await sidecar.close();
  await waitFor('the anonymous queue to go', async () => (await anonymousQueues()).length === 0, 10_000);
});
