/**
 * The operator on the real API server and brokers: Binders connect, StreamBindings become
 * Ready with SCSt's topology on RabbitMQ and Kafka (read back from the brokers), the
 * namespace's ConfigMap follows, drift is repaired, and an unchanged resync writes nothing.
 */
import { parse } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Binder, StreamBinding } from '../../../operator/src/api/types.ts';
import type { Operator } from '../../../operator/src/operator.ts';
import {
  applyCrds, cleanupRabbit, condition, createBinding, createKafkaBinder, createNamespace, createRabbitBinder, teardown,
  getObject, kafkaAdmin, kube, patchSpec, rabbitBindings, rabbitExchange, rabbitQueue, startOperator, suffix, topicPartitions,
  waitFor, waitForCondition, withRabbitChannel,
} from './support.ts';

const running: Array<{ namespace: string; operator: Operator }> = [];
const marker = `op${suffix()}`;

beforeAll(() => applyCrds());

afterEach(async () => {
  await Promise.all(running.splice(0).map(({ namespace, operator }) => teardown(namespace, operator)));
});

afterAll(async () => {
  await cleanupRabbit(marker);
});

async function setUp(prefix: string): Promise<{ namespace: string; operator: Operator }> {
  const namespace = await createNamespace(prefix);
  const operator = await startOperator(namespace);
  running.push({ namespace, operator });
  return { namespace, operator };
}

describe('RabbitMQ', () => {
  it("a Binder and the seed's StreamBindings become Ready with SCSt's topology on the broker", async () => {
    const { namespace, operator } = await setUp('seed');
    const destination = `studyExchange-${marker}`;
    const started = Date.now();
    await createRabbitBinder(namespace, 'default-rabbit', { default: true });
    await createBinding(namespace, 'provider-output', { direction: 'output', destination, contentType: 'application/json' });
    await createBinding(namespace, 'consumer-8802-input', { direction: 'input', destination, group: 'atguiguA', consumer: { deadLetter: true } });
    await createBinding(namespace, 'consumer-8803-input', { direction: 'input', destination, group: 'atguiguA', consumer: { deadLetter: true } });
    // Without deadLetter: no DLQ and no queue arguments, as Spring's autoBindDlq default.
    await createBinding(namespace, 'audit-input', { direction: 'input', destination, group: 'atguiguB' });

    const binderReady = await waitForCondition(namespace, 'binders', 'default-rabbit', 'True', 'Connected');
    expect(binderReady.message).toMatch(/RabbitMQ \d+\.\d+/);
    for (const name of ['provider-output', 'consumer-8802-input', 'consumer-8803-input', 'audit-input']) {
      await waitForCondition(namespace, 'streambindings', name, 'True', 'Provisioned');
    }
    expect(Date.now() - started).toBeLessThan(10_000);

    const binder = await getObject<Binder>(namespace, 'binders', 'default-rabbit');
    expect(binder?.status?.brokerVersion).toMatch(/^RabbitMQ \d/);
    const input = await getObject<StreamBinding>(namespace, 'streambindings', 'consumer-8802-input');
    expect(input?.status).toMatchObject({
      observedGeneration: 1,
      binder: 'default-rabbit',
      topology: { exchange: destination, queues: [`${destination}.atguiguA`], deadLetterQueue: `${destination}.atguiguA.dlq` },
    });
    expect(condition(input, 'BinderReady')?.status).toBe('True');

    // Read back from RabbitMQ itself.
    expect(await rabbitExchange(destination)).toMatchObject({ type: 'topic', durable: true });
    expect(await rabbitQueue(`${destination}.atguiguA`)).toMatchObject({
      durable: true,
      arguments: { 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': `${destination}.atguiguA` },
    });
    expect(await rabbitBindings(`${destination}.atguiguA`)).toContainEqual(expect.objectContaining({ source: destination, routing_key: '#' }));
    expect(await rabbitBindings(`${destination}.atguiguA.dlq`)).toContainEqual(expect.objectContaining({ source: 'DLX', routing_key: `${destination}.atguiguA` }));
    expect(await rabbitQueue(`${destination}.atguiguB`)).toMatchObject({ durable: true, arguments: {} });
    expect(await rabbitQueue(`${destination}.atguiguB.dlq`)).toBeUndefined();

    // The runtime configuration of the namespace, without a secret in it.
    const configMap = await waitFor('the ConfigMap', async () => {
      const cm = await kube().core.readNamespacedConfigMap({ namespace, name: 'bindery-config' }).catch(() => undefined);
      const text = cm?.data?.['bindery.yaml'];
      return text && Object.keys(parse(text).bindings ?? {}).length === 4 ? text : undefined;
    });
    const config = parse(configMap);
    expect(config.defaultBinder).toBe('default-rabbit');
    expect(config.binders['default-rabbit'].rabbit).toMatchObject({
      username: '${BINDERY_BINDER_DEFAULT_RABBIT_USERNAME}',
      password: '${BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD}',
    });
    expect(config.bindings['consumer-8803-input']).toMatchObject({ direction: 'input', destination, group: 'atguiguA', binder: 'default-rabbit' });
    expect(configMap).not.toContain('guest');

    const events = await kube().core.listNamespacedEvent({ namespace });
    expect(events.items.map((e) => `${e.involvedObject.name}:${e.reason}`)).toEqual(
      expect.arrayContaining(['default-rabbit:Connected', 'consumer-8802-input:Provisioned']),
    );
    const metrics = await operator.metrics.registry.getSingleMetricAsString('bindery_operator_reconciles_total');
    expect(metrics).toMatch(/controller="streambinding",result="done"} [1-9]/);
  });

  it('repairs a queue deleted by hand at the next resync; an unchanged resync writes nothing to the broker', async () => {
    const { namespace, operator } = await setUp('drift');
    const destination = `drift-${marker}`;
    await createRabbitBinder(namespace, 'rabbit', { default: true });
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g' });
    const ready = await waitForCondition(namespace, 'streambindings', 'in', 'True');

    // Several resyncs later (resync is 1 s here): reads, no writes, the same transition time.
    const calls = operator.pool.calls;
    const writes = calls.writes;
    const reads = calls.reads;
    await waitFor('three resyncs', () => calls.reads >= reads + 3 * 3, 10_000);
    expect(calls.writes).toBe(writes);
    expect(condition(await getObject(namespace, 'streambindings', 'in'))?.lastTransitionTime).toBe(ready.lastTransitionTime);

    await withRabbitChannel((channel) => channel.deleteQueue(`${destination}.g`));
    expect(await rabbitQueue(`${destination}.g`)).toBeUndefined();
    await waitFor('the queue to be back', () => rabbitQueue(`${destination}.g`), 10_000);
    expect(calls.writes).toBeGreaterThan(writes);
    // The Event is recorded once the declaration returned, a moment after the queue is visible.
    await waitFor('the DriftRepaired event', async () => {
      const events = await kube().core.listNamespacedEvent({ namespace });
      return events.items.some((e) => e.reason === 'DriftRepaired' && e.message?.includes(`${destination}.g`));
    }, 10_000);
  });

  it('a queue re-created by hand with other arguments is noticed at the next resync, and reported as IncompatibleTopology', async () => {
    const { namespace } = await setUp('rearg');
    const destination = `rearg-${marker}`;
    await createRabbitBinder(namespace, 'rabbit', { default: true });
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g' });
    await waitForCondition(namespace, 'streambindings', 'in', 'True');
    await withRabbitChannel(async (channel) => {
      await channel.deleteQueue(`${destination}.g`);
      await channel.assertQueue(`${destination}.g`, { durable: true, arguments: { 'x-dead-letter-exchange': 'DLX' } });
    });
    const refused = await waitForCondition(namespace, 'streambindings', 'in', 'False', 'IncompatibleTopology');
    expect(refused.message).toContain(`queue '${destination}.g': it exists with x-dead-letter-exchange = DLX, this binding declares x-dead-letter-exchange = none`);
  });

  it('a queue that exists with other arguments makes the binding Ready=False IncompatibleTopology, naming the argument and both values, without retrying', async () => {
    const { namespace, operator } = await setUp('conflict');
    const destination = `conflict-${marker}`;
    // As a Spring service with the default autoBindDlq (false) declares its group queue.
    await withRabbitChannel(async (channel) => {
      await channel.assertExchange(destination, 'topic', { durable: true });
      await channel.assertQueue(`${destination}.g`, { durable: true });
    });
    await createRabbitBinder(namespace, 'rabbit', { default: true });
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g', consumer: { deadLetter: true } });
    const refused = await waitForCondition(namespace, 'streambindings', 'in', 'False', 'IncompatibleTopology');
    expect(refused.message).toContain('PRECONDITION_FAILED');
    expect(refused.message).toContain(`queue '${destination}.g': it exists with x-dead-letter-exchange = none, this binding declares x-dead-letter-exchange = DLX`);
    // The reconcile is counted once it returned, a moment after its status was written.
    const terminal = await waitFor('the terminal reconcile to be counted', async () => {
      const text = await operator.metrics.registry.getSingleMetricAsString('bindery_operator_reconciles_total');
      return /controller="streambinding",result="terminal"} [1-9]/.test(text) ? text : undefined;
    }, 10_000);
    expect(terminal).not.toMatch(/controller="streambinding",result="error"/);
  });

  it('a Binder says why it cannot connect, and recovers when its Secret appears', async () => {
    const { namespace } = await setUp('binder');
    await createRabbitBinder(namespace, 'wrong-password', { password: 'not-the-password' });
    const refused = await waitForCondition(namespace, 'binders', 'wrong-password', 'False', 'AuthenticationFailed');
    expect(refused.message).not.toContain('not-the-password');

    await kube().custom.createNamespacedCustomObject({
      group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'binders',
      body: { apiVersion: 'bindery.io/v1alpha1', kind: 'Binder', metadata: { name: 'unreachable' }, spec: { type: 'rabbit', rabbit: { host: '127.0.0.1', port: 1 } } },
    });
    await waitForCondition(namespace, 'binders', 'unreachable', 'False', 'Unreachable');

    await kube().custom.createNamespacedCustomObject({
      group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'binders',
      body: {
        apiVersion: 'bindery.io/v1alpha1', kind: 'Binder', metadata: { name: 'later' },
        spec: { type: 'rabbit', rabbit: { host: '127.0.0.1', port: Number(new URL((await import('../../support/env.ts')).testEnv().rabbitUrl).port), credentialsSecret: { name: 'later-secret' } } },
      },
    });
    await waitForCondition(namespace, 'binders', 'later', 'False', 'SecretNotFound');
    await kube().core.createNamespacedSecret({ namespace, body: { metadata: { name: 'later-secret' }, stringData: { username: 'guest', password: 'guest' } } });
    await waitForCondition(namespace, 'binders', 'later', 'True', 'Connected');
  });

  it('two default Binders both get a condition, and a StreamBinding naming none waits', async () => {
    const { namespace } = await setUp('defaults');
    await createRabbitBinder(namespace, 'first', { default: true });
    await createRabbitBinder(namespace, 'second', { default: true });
    await createBinding(namespace, 'orphan', { direction: 'output', destination: `orphan-${marker}` });
    for (const name of ['first', 'second']) {
      const conflict = await waitFor(`${name} to report the conflict`, async () => {
        const c = condition(await getObject(namespace, 'binders', name), 'DefaultConflict');
        return c?.status === 'True' ? c : undefined;
      });
      expect(conflict.message).toContain('first, second');
    }
    await waitForCondition(namespace, 'streambindings', 'orphan', 'False', 'NoDefaultBinder');

    await patchSpec(namespace, 'binders', 'second', { default: false });
    await waitForCondition(namespace, 'streambindings', 'orphan', 'True', 'Provisioned');
    await waitFor('the conflict to clear', async () => condition(await getObject(namespace, 'binders', 'first'), 'DefaultConflict') === undefined);
  });
});

describe('Kafka', () => {
  it('declares the topic with its partitions and the dead-letter topic, and grows partitions', async () => {
    const { namespace } = await setUp('kafka');
    const destination = `orders-${marker}`;
    await createKafkaBinder(namespace, 'kafka');
    await createBinding(namespace, 'orders-out', { direction: 'output', destination, binder: 'kafka', producer: { partitionCount: 3, partitionKeyExpression: 'payload.id' } });
    await createBinding(namespace, 'orders-in', { direction: 'input', destination, group: 'billing', binder: 'kafka', consumer: { deadLetter: true } });
    try {
      const binderReady = await waitForCondition(namespace, 'binders', 'kafka', 'True', 'Connected', 40_000);
      expect(binderReady.message).toContain('Kafka');
      await waitForCondition(namespace, 'streambindings', 'orders-out', 'True');
      await waitForCondition(namespace, 'streambindings', 'orders-in', 'True');
      expect(await topicPartitions(destination)).toBe(3);
      expect(await topicPartitions(`error.${destination}.billing`)).toBe(1);
      expect((await getObject<StreamBinding>(namespace, 'streambindings', 'orders-in'))?.status?.topology).toEqual({
        topic: destination, partitions: 1, deadLetterTopic: `error.${destination}.billing`,
      });

      await patchSpec(namespace, 'streambindings', 'orders-out', { producer: { partitionCount: 5 } });
      await waitFor('5 partitions', async () => (await topicPartitions(destination)) === 5);
      await waitFor('status to say 5 partitions', async () => {
        const out = await getObject<StreamBinding>(namespace, 'streambindings', 'orders-out');
        return out?.status?.observedGeneration === 2 && out.status.topology?.partitions === 5;
      });
    } finally {
      const admin = kafkaAdmin();
      await admin.connect();
      await admin.deleteTopics({ topics: [destination, `error.${destination}.billing`] }).catch(() => {});
      await admin.disconnect();
    }
  });
});
