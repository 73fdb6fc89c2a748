/**
 * The demo's live switch: one sidecar with an output and an input (pushing to a small app)
 * on RabbitMQ, a steady stream of sends through it, and mid-stream a new configuration that
 * moves both bindings to Kafka, applied without a restart, as the sidecar applies an edited
 * config file. The step holds when no send was refused and every message answered 202 was
 * pushed exactly once, whichever broker carried it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  defaultConsumer,
  defaultProducer,
  type BinderConfig,
  type RuntimeConfig,
} from '../config/model.ts';
import { startSidecar } from '../server.ts';

const DESTINATION = 'studyExchangeSwitch';
const GROUP = 'atguiguS';

export interface SwitchBrokers {
  rabbit: BinderConfig;
  kafka: BinderConfig;
}

/** Runs the step, printing as it goes; resolves whether it held. */
export async function liveSwitchStep(brokers: SwitchBrokers, logger: Logger, print: (line: string) => void): Promise<boolean> {
  const app = await receiver();
  const sidecar = await startSidecar({ config: switchConfig(brokers, 'rabbit', app.port), logger });
  const accepted: string[] = [];
  const refused: string[] = [];
  let sending = true;
  try {
    print(`   sidecar: output and input (group ${GROUP}) on ${DESTINATION}, binder rabbit; the app gets pushes`);
    const sender = (async () => {
      while (sending) {
        const id = randomUUID();
        const answer = await fetch(`${sidecar.apiUrl}/v1/send/output`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-msg-id': id },
          body: JSON.stringify(id),
        });
        await answer.body?.cancel();
        if (answer.status === 202) accepted.push(id);
        else refused.push(`HTTP ${answer.status}`);
        await delay(10);
      }
    })();
    await until(() => accepted.length >= 50, 20_000);
    const atSwitch = accepted.length;
    print(`   ${atSwitch} sent on RabbitMQ and still sending; switching both bindings to kafka (new config, no restart)`);
    await sidecar.sidecar.reload(switchConfig(brokers, 'kafka', app.port));
    const views = sidecar.sidecar.bindings();
    print(`   now: ${views.map((b) => `${b.name} on ${b.binder}`).join(', ')}`);
    await until(() => accepted.length >= atSwitch + 50, 30_000);
    sending = false;
    await sender;
    const sentIds = new Set(accepted);
    await until(() => accepted.every((id) => app.received.has(id)), 30_000);
    await delay(1_000);
    const received = app.pushes.filter((id) => sentIds.has(id));
    const once = new Set(received).size;
    const twice = received.length - once;
    print(`   ${accepted.length} answered 202 (${atSwitch} before the switch, ${accepted.length - atSwitch} after), ` +
      `${refused.length} refused; the app got ${once} of them, ${twice} twice`);
    const ok = refused.length === 0 && once === accepted.length && twice === 0;
    print(`   => ${ok ? 'PASS' : 'FAIL'}`);
    return ok;
  } finally {
    sending = false;
    await sidecar.close();
    await app.close();
  }
}

function switchConfig(brokers: SwitchBrokers, binder: 'rabbit' | 'kafka', appPort: number): RuntimeConfig {
  const rabbit = { ...brokers.rabbit, name: 'rabbit' };
  const kafka = { ...brokers.kafka, name: 'kafka' };
  const common = { destination: DESTINATION, binder, contentType: 'application/json', maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES };
  return {
    binders: { rabbit, kafka },
    defaultBinder: binder,
    bindings: {
      // requiredGroups: on RabbitMQ the group's queue exists before the first send.
      output: { name: 'output', direction: 'output', ...common, producer: { ...defaultProducer(), requiredGroups: [GROUP] }, consumer: defaultConsumer() },
      input: { name: 'input', direction: 'input', group: GROUP, ...common, producer: defaultProducer(), consumer: { ...defaultConsumer(), concurrency: 4 } },
    },
    app: { port: appPort, host: '127.0.0.1' },
    http: { host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0 },
    warnings: [],
  };
}

async function receiver(): Promise<{ port: number; pushes: string[]; received: Set<string>; close(): Promise<void> }> {
  const pushes: string[] = [];
  const received = new Set<string>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const id = String(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      pushes.push(id);
      received.add(id);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    pushes,
    received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await delay(20);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
