/**
 * Consumer lag in a StreamBinding's status, as a user reads it: messages sent to a group that
 * nobody consumes show up in `status.consumerLag` and in the LAG column of
 * `kubectl get streambindings -o wide`, and go back to 0 once the group has consumed them, on
 * the real RabbitMQ and Kafka with the operator's own resync (1 s here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { StreamBinding } from '../../../operator/src/api/types.ts';
import type { Operator } from '../../../operator/src/operator.ts';
import { testEnv } from '../../support/env.ts';
import {
  applyCrds, cleanupRabbit, createBinding, createKafkaBinder, createNamespace, createRabbitBinder, getObject, kafkaAdmin, kubectl,
  startOperator, suffix, table, teardown, waitFor, waitForCondition, withRabbitChannel,
} from './support.ts';

const SENT = 25;

describe('status.consumerLag', () => {
  const marker = `lag${suffix()}`;
  const exchange = `payments-${marker}`;
  const topic = `invoices-${marker}`;
  let namespace: string;
  let operator: Operator | undefined;

  const lagOf = async (name: string) => (await getObject<StreamBinding>(namespace, 'streambindings', name))?.status?.consumerLag;
  const waitForLag = (name: string, expected: number) =>
    waitFor(`${name} to show lag ${expected}`, async () => (await lagOf(name)) === expected, 20_000);
  const lagColumn = (name: string) => table(kubectl('get', 'streambindings', '-n', namespace, '-o', 'wide')).find((row) => row.NAME === name)?.LAG;

  beforeAll(async () => {
    await applyCrds();
    namespace = await createNamespace('lag');
    await createRabbitBinder(namespace, 'rabbit', { default: true });
    await createKafkaBinder(namespace, 'kafka');
    await createBinding(namespace, 'payments-in', { direction: 'input', destination: exchange, group: 'ledger' });
    await createBinding(namespace, 'invoices-in', { direction: 'input', destination: topic, group: 'ledger', binder: 'kafka', consumer: { concurrency: 2 } });
    operator = await startOperator(namespace);
    await waitForCondition(namespace, 'streambindings', 'payments-in', 'True', 'Provisioned', 30_000);
    await waitForCondition(namespace, 'streambindings', 'invoices-in', 'True', 'Provisioned', 30_000);
  });

  afterAll(async () => {
    await teardown(namespace, operator);
    await cleanupRabbit(marker);
    const admin = kafkaAdmin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  it('RabbitMQ: the messages ready in the group queue, then 0 once they are consumed', async () => {
    await waitForLag('payments-in', 0);
    await withRabbitChannel(async (channel) => {
      for (let i = 0; i < SENT; i += 1) channel.publish(exchange, 'payment', Buffer.from(JSON.stringify({ i })), { persistent: true });
      await channel.checkExchange(exchange); // a round trip: the publishes before it have reached the broker
    });
    await waitForLag('payments-in', SENT);
    expect(lagColumn('payments-in')).toBe(String(SENT));

    await withRabbitChannel(async (channel) => {
      let taken = 0;
      for (let message = await channel.get(`${exchange}.ledger`); message; message = await channel.get(`${exchange}.ledger`)) {
        channel.ack(message);
        taken += 1;
      }
      expect(taken).toBe(SENT);
      await channel.checkQueue(`${exchange}.ledger`);
    });
    await waitForLag('payments-in', 0);
    expect(lagColumn('payments-in')).toBe('0');
  });

  it('Kafka: end offsets less the group\'s commits over both partitions, then 0 once the group commits', async () => {
    await waitForLag('invoices-in', 0);
    const kafka = new Kafka({ clientId: `lag-test-${marker}`, brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: SENT }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i }) })) });
    await producer.disconnect();
    await waitForLag('invoices-in', SENT);
    expect(lagColumn('invoices-in')).toBe(String(SENT));

    const consumer = kafka.consumer({ groupId: 'ledger', sessionTimeout: 6_000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let consumed = 0;
    await consumer.run({ eachMessage: async () => void (consumed += 1) });
    try {
      await waitFor('the group to consume what was sent', async () => consumed >= SENT, 30_000);
      await waitForLag('invoices-in', 0);
    } finally {
      await consumer.disconnect();
    }
    expect(lagColumn('invoices-in')).toBe('0');
  });
});
