/**
 * Sends through the rabbit binder: persistent, confirmed, with the AMQP properties a Spring
 * consumer reads; and each way a send fails surfaces as the contract's error.
 */
import amqp from 'amqplib';
import { describe, expect, it, vi } from 'vitest';
import { BinderUnavailableError, ConfirmTimeoutError, type Binder } from '../../../runtime/src/binders/binder.ts';
import { amqpSocket, coalesceWrites } from '../../../runtime/src/binders/rabbit/socket-writes.ts';
import { testEnv } from '../../support/env.ts';
import { message, outputBinding, rabbitBinder, type RawRabbit, uniqueDestination, withConnectedRabbit } from './support.ts';

let binder: Binder;
let raw: RawRabbit;
const cleanup = withConnectedRabbit((connected, client) => {
  binder = connected;
  raw = client;
});

describe('rabbit binder publishing', () => {
  it('publishes a persistent message with content_type, message_id and user headers, confirmed', async () => {
    const destination = uniqueDestination('pub-props');
    cleanup.exchanges.push(destination);
    cleanup.queues.push(`${destination}.audit`, `${destination}.audit.dlq`);
    const producer = await binder.createProducer(outputBinding(destination, { requiredGroups: ['audit'] }));

    const receipt = await producer.send({
      id: 'msg-1', payload: Buffer.from('hello'), contentType: 'text/plain', headers: { tenant: 'acme' },
    });

    expect(receipt).toEqual({});
    const got = await raw.getOne(`${destination}.audit`);
    expect(got.content.toString()).toBe('hello');
    expect(got.fields.exchange).toBe(destination);
    expect(got.properties).toMatchObject({ deliveryMode: 2, contentType: 'text/plain', messageId: 'msg-1', headers: { tenant: 'acme' } });
  });

  it('routes a partitioned message with <destination>-<n> and the scst_partition header', async () => {
    const destination = uniqueDestination('pub-part');
    cleanup.exchanges.push(destination);
    cleanup.queues.push(`${destination}.audit-0`, `${destination}.audit-1`, `${destination}.audit.dlq`);
    const producer = await binder.createProducer(outputBinding(destination, { partitionCount: 2, requiredGroups: ['audit'] }));

    expect(await producer.send(message('m', {}, { partition: 1 }))).toEqual({ partition: 1 });
    const got = await raw.getOne(`${destination}.audit-1`);
    expect(got.fields.routingKey).toBe(`${destination}-1`);
    expect(got.properties.headers).toMatchObject({ scst_partition: 1 });
  });

  it('accepts a send to a destination nobody consumes (mandatory off, as in SCSt)', async () => {
    const destination = uniqueDestination('pub-nobody');
    cleanup.exchanges.push(destination);
    const producer = await binder.createProducer(outputBinding(destination));
    await expect(producer.send(message('lonely'))).resolves.toEqual({});
  });

  it('rejects with BinderUnavailableError when the broker nacks the message', async () => {
    const destination = uniqueDestination('pub-nack');
    const full = `${destination}.full`;
    cleanup.exchanges.push(destination);
    cleanup.queues.push(full);
    const producer = await binder.createProducer(outputBinding(destination));
    // A queue that refuses every message makes RabbitMQ nack the publish.
    await raw.channel.assertQueue(full, { arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await raw.channel.bindQueue(full, destination, '#');

    await expect(producer.send(message('refused'))).rejects.toThrow(BinderUnavailableError);
    // The channel survives a nack: the next send to a destination that takes it works.
    const other = uniqueDestination('pub-after-nack');
    cleanup.exchanges.push(other);
    await expect((await binder.createProducer(outputBinding(other))).send(message('ok'))).resolves.toEqual({});
  });

  it('rejects with ConfirmTimeoutError when the confirm does not come in time', async () => {
    // Timers that fire at once (before any network reply can arrive) make every confirm late.
    const impatient = rabbitBinder({ clock: { now: () => Date.now(), setTimeout: (fire) => queueMicrotask(fire), clearTimeout: () => undefined } });
    await impatient.connect();
    const destination = uniqueDestination('pub-timeout');
    cleanup.exchanges.push(destination);
    try {
      const producer = await impatient.createProducer(outputBinding(destination));
      await expect(producer.send(message('late'))).rejects.toThrow(ConfirmTimeoutError);
    } finally {
      await impatient.close();
    }
  });

  it('sends a burst of publishes made in one turn in one writev, each confirmed, in order', async () => {
    // What the binder does to its publishing connection, on amqplib's own socket: a newer
    // amqplib that hid its socket would fail here instead of quietly writing frame by frame.
    const connection = await amqp.connect(testEnv().rabbitUrl);
    try {
      const socket = amqpSocket(connection);
      expect(socket).toBeDefined();
      coalesceWrites(socket!);
      const channel = await connection.createConfirmChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      const writev = vi.spyOn(socket as unknown as { _writev: () => void }, '_writev');
      const write = vi.spyOn(socket as unknown as { _write: () => void }, '_write');
      const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
      await Promise.all(ids.map((id) => new Promise<void>((resolve, reject) => {
        channel.publish('', queue, Buffer.from(id), { messageId: id, persistent: true }, (error: unknown) => (error ? reject(error as Error) : resolve()));
      })));
      expect([writev.mock.calls.length, write.mock.calls.length]).toEqual([1, 0]);
      const got: string[] = [];
      for (let message = await channel.get(queue); message !== false; message = await channel.get(queue)) got.push(message.content.toString());
      expect(got).toEqual(ids);
    } finally {
      await connection.close();
    }
  });

  it('rejects with BinderUnavailableError before connecting and after closing', async () => {
    const idle = rabbitBinder();
    const destination = uniqueDestination('pub-idle');
    const producer = await idle.createProducer(outputBinding(destination));
    await expect(producer.send(message('too-early'))).rejects.toThrow(BinderUnavailableError);
    await idle.close();
    expect(idle.state).toBe('closed');
    await expect(producer.send(message('too-late'))).rejects.toThrow(BinderUnavailableError);
  });

  it('reports the broker version once connected', () => {
    expect(binder.state).toBe('up');
    expect(binder.brokerVersion).toMatch(/^RabbitMQ \d+\.\d+\.\d+/);
  });

  it('never shows the password when it cannot connect', async () => {
    const url = new URL(testEnv().rabbitUrl);
    url.username = 'bindery-nobody';
    url.password = 'S3cret-Pa55';
    const refused = rabbitBinder({}, url.toString());
    const error = await refused.connect().then(() => undefined, (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(BinderUnavailableError);
    expect(error?.message).toMatch(/ACCESS_REFUSED|refused/i);
    expect(error?.message).not.toContain('S3cret-Pa55');
    expect(refused.state).toBe('down');
    await refused.close();
  });
});
