/**
 * Helpers for the rabbit binder's tests: bindings with unique destinations, binders with
 * short back-offs, a raw amqplib channel to look at what the broker holds, and waiting for
 * a condition instead of sleeping.
 */
import { randomBytes } from 'node:crypto';
import { connect as connectTcp, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import amqp from 'amqplib';
import { afterAll, beforeAll } from 'vitest';
import pino from 'pino';
import type { Binder, BinderDeps, Delivery } from '../../../runtime/src/binders/binder.ts';
import { createRabbitBinder, type RabbitBinderOptions } from '../../../runtime/src/binders/rabbit/index.ts';
import {
  defaultConsumer,
  defaultProducer,
  DEFAULT_MAX_MESSAGE_BYTES,
  type BindingConfig,
  type ConsumerConfig,
  type ProducerConfig,
} from '../../../runtime/src/config/model.ts';
import { managementApi, testEnv } from '../../support/env.ts';

export const silentLogger = pino({ level: 'silent' });

export function uniqueDestination(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function outputBinding(destination: string, producer: Partial<ProducerConfig> = {}): BindingConfig {
  return {
    name: 'output',
    direction: 'output',
    destination,
    binder: 'rabbit',
    contentType: 'application/json',
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    producer: { ...defaultProducer(), ...producer },
    consumer: defaultConsumer(),
  };
}

export function inputBinding(destination: string, group: string | undefined, consumer: Partial<ConsumerConfig> = {}): BindingConfig {
  return {
    name: 'input',
    direction: 'input',
    destination,
    group,
    binder: 'rabbit',
    contentType: 'application/json',
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    producer: defaultProducer(),
    consumer: { ...defaultConsumer(), ...consumer },
  };
}

export function rabbitBinder(options: RabbitBinderOptions = {}, url = testEnv().rabbitUrl, deps: Partial<BinderDeps> = {}): Binder {
  return createRabbitBinder(
    { name: 'rabbit', type: 'rabbit', rabbit: { url } },
    { logger: silentLogger, ...deps },
    { reconnect: { initialMs: 100, multiplier: 2, maxMs: 1000 }, ...options },
  );
}

export function message(id: string, body: unknown = { id }, extra: { partition?: number; headers?: Record<string, string> } = {}) {
  return {
    id,
    payload: Buffer.from(JSON.stringify(body)),
    contentType: 'application/json',
    headers: extra.headers ?? {},
    ...(extra.partition === undefined ? {} : { partition: extra.partition }),
  };
}

/** Collects deliveries; acks each one unless told otherwise. */
export function collector(settle: (d: Delivery) => void = (d) => void d.ack()) {
  const received: Delivery[] = [];
  return {
    received,
    handler: (delivery: Delivery) => {
      received.push(delivery);
      settle(delivery);
    },
    ids: () => received.map((d) => d.id),
  };
}

import { waitFor } from '../../support/wait.ts';

export { waitFor };

export type RawRabbit = Awaited<ReturnType<typeof rawRabbit>>;

/**
 * The hooks most rabbit test files share: one connected binder and one raw client for the
 * file, handed to `use`, and the broker objects listed in the returned cleanup deleted after.
 */
export function withConnectedRabbit(use: (binder: Binder, raw: RawRabbit) => void): { exchanges: string[]; queues: string[] } {
  const cleanup = { exchanges: [] as string[], queues: [] as string[] };
  let binder: Binder | undefined;
  let raw: RawRabbit | undefined;
  beforeAll(async () => {
    binder = rabbitBinder();
    await binder.connect();
    raw = await rawRabbit();
    use(binder, raw);
  });
  afterAll(async () => {
    await binder?.close();
    await raw?.deleteAll(cleanup);
    await raw?.close();
  });
  return cleanup;
}

/** A plain amqplib connection for reading and cleaning up what the binder left on the broker. */
export async function rawRabbit() {
  const connection = await amqp.connect(testEnv().rabbitUrl);
  const channel = await connection.createChannel();
  return {
    channel,
    /** Takes one message from `queue`, polling until it arrives. */
    async getOne(queue: string, timeoutMs = 10_000) {
      let got: amqp.GetMessage | false = false;
      await waitFor(`a message in ${queue}`, async () => (got = await channel.get(queue, { noAck: true })) !== false, timeoutMs);
      return got as unknown as amqp.GetMessage;
    },
    async deleteAll(names: { exchanges?: string[]; queues?: string[] }) {
      for (const queue of names.queues ?? []) await channel.deleteQueue(queue);
      for (const exchange of names.exchanges ?? []) await channel.deleteExchange(exchange);
    },
    close: () => connection.close(),
  };
}

const vhost = '%2F';
export const management = {
  exchange: (name: string) => managementApi<Record<string, unknown>>(`/exchanges/${vhost}/${encodeURIComponent(name)}`),
  queue: (name: string) => managementApi<Record<string, unknown>>(`/queues/${vhost}/${encodeURIComponent(name)}`),
  queuesNamed: async (prefix: string) =>
    ((await managementApi<{ name: string }[]>(`/queues/${vhost}?columns=name`)) ?? []).filter((q) => q.name.startsWith(prefix)),
  bindingsOf: async (queue: string) =>
    ((await managementApi<{ source: string; routing_key: string; destination: string }[]>(
      `/queues/${vhost}/${encodeURIComponent(queue)}/bindings`,
    )) ?? [])
      .filter((b) => b.source !== '')
      .map((b) => ({ exchange: b.source, routingKey: b.routing_key })),
};

/**
 * A TCP proxy in front of RabbitMQ that can drop every connection and refuse new ones, so a
 * test can take the broker away from one binder without stopping the broker for everyone.
 */
export async function brokerProxy(url = testEnv().rabbitUrl) {
  const upstream = new URL(url);
  const sockets = new Set<Socket>();
  const brokerSides = new Set<Socket>();
  const clientSides = new Set<Socket>();
  let refusing = false;
  const server: NetServer = createNetServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const broker = connectTcp(Number(upstream.port || 5672), upstream.hostname);
    brokerSides.add(broker);
    broker.on('close', () => brokerSides.delete(broker));
    clientSides.add(client);
    client.on('close', () => clientSides.delete(client));
    for (const [a, b] of [[client, broker], [broker, client]] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    /** Stops passing what the broker says (confirms, deliveries) to the clients. */
    hold() {
      for (const broker of brokerSides) broker.pause();
    },
    /** Sends `bytes` to every client as if the broker had sent them (between frames). */
    toClients(bytes: Buffer) {
      for (const client of clientSides) client.write(bytes);
    },
    /** Drops every open connection and refuses new ones until `restore()`. */
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** An AMQP 0-9-1 connection.blocked (reason given) or connection.unblocked frame, on channel 0. */
export function connectionBlockedFrame(reason?: string): Buffer {
  const method = Buffer.alloc(4);
  method.writeUInt16BE(10, 0); // class connection
  method.writeUInt16BE(reason === undefined ? 61 : 60, 2); // unblocked : blocked
  const args = reason === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([Buffer.byteLength(reason)]), Buffer.from(reason)]);
  const payload = Buffer.concat([method, args]);
  const header = Buffer.alloc(7);
  header.writeUInt8(1, 0); // method frame
  header.writeUInt16BE(0, 1);
  header.writeUInt32BE(payload.length, 3);
  return Buffer.concat([header, payload, Buffer.from([0xce])]);
}
