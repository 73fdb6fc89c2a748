/**
 * A live binder switch from RabbitMQ to Kafka under a steady send load (SPEC section 6):
 * the output and the input move without a restart, no send is refused, and every message
 * answered 202 reaches the app exactly once, whichever broker carried it.
 */
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../../../runtime/src/config/load.ts';
import { startSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { PushTarget, deleteRabbitObjects, delay, send, silent, unique, waitFor } from '../runtime/support.ts';
import { rawKafka } from './support.ts';

const destination = unique('switch');
const group = unique('switch-g');
const raw = rawKafka();
raw.track({ topics: [destination, `error.${destination}.${group}`], groups: [group] });

afterAll(async () => {
  await deleteRabbitObjects(destination);
  await raw.cleanup();
});

function yaml(binder: 'rabbit' | 'kafka', appPort: number): string {
  const env = testEnv();
  return `binders:
  rabbit: { type: rabbit, rabbit: { url: "${env.rabbitUrl}" } }
  kafka: { type: kafka, kafka: { brokers: [${env.kafkaBrokers.join(', ')}] } }
bindings:
  out: { direction: output, destination: ${destination}, binder: ${binder}, producer: { requiredGroups: [${group}] } }
  in: { direction: input, destination: ${destination}, group: ${group}, binder: ${binder}, consumer: { concurrency: 4 } }
app: { port: ${appPort} }
http: { port: 0, opsPort: 0, opsHost: 127.0.0.1 }`;
}

it('moves output and input from RabbitMQ to Kafka under load: every 202 received once, nothing refused', async () => {
  const target = await PushTarget.start();
  const load = (binder: 'rabbit' | 'kafka') => parseConfig(yaml(binder, target.port), 'bindery.yaml');
  const running = await startSidecar({ config: await load('rabbit'), logger: silent, drainQuietMs: 500 });
  try {
    const accepted: string[] = [];
    const refused: number[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending; i++) {
        const answer = await send(running, 'out', JSON.stringify({ i }), { 'content-type': 'application/json', 'x-msg-id': `m-${i}` });
        if (answer.status === 202) accepted.push(`m-${i}`);
        else refused.push(answer.status);
        await delay(5);
      }
    })();
    await waitFor('30 sends on RabbitMQ', () => accepted.length >= 30, 20_000);
    await running.sidecar.reload(await load('kafka'));
    const views = running.sidecar.bindings();
    expect(views.find((b) => b.name === 'out')).toMatchObject({ binder: 'kafka', binderType: 'kafka' });
    expect(views.find((b) => b.name === 'in')).toMatchObject({ binder: 'kafka', consuming: true });
    const atSwitch = accepted.length;
    await waitFor('30 sends on Kafka', () => accepted.length >= atSwitch + 30, 30_000);
    sending = false;
    await sender;
    const pushedIds = () => target.received.map((r) => String(r.headers['x-msg-id']));
    await waitFor('every accepted message pushed', () => new Set(pushedIds()).size >= accepted.length, 30_000);
    await delay(1_000);
    expect(refused).toEqual([]);
    expect(pushedIds().filter((id) => accepted.includes(id)).sort()).toEqual([...accepted].sort());
    expect(pushedIds().length).toBe(new Set(pushedIds()).size);
    // The later messages really went through Kafka.
    const records = await raw.read(destination, accepted.length - atSwitch);
    expect(records.length).toBeGreaterThanOrEqual(accepted.length - atSwitch);
  } finally {
    await running.close();
    await target.close();
  }
}, 120_000);
