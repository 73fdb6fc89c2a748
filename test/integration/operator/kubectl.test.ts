/**
 * What a user reads with kubectl: `kubectl explain` of a StreamBinding's consumer settings,
 * and the columns of `kubectl get` for Binders and StreamBindings provisioned by a real
 * operator on the real brokers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamBinding } from '../../../operator/src/api/types.ts';
import type { Operator } from '../../../operator/src/operator.ts';
import { CONSUMER_DEFAULTS } from '../../../sidecar-config/defaults.ts';
import { ConsumerSettings } from '../../../sidecar-config/settings.ts';
import {
  applyCrds, cleanupRabbit, createBinding, createKafkaBinder, createNamespace, createRabbitBinder, kafkaAdmin, kubectl, startOperator, suffix,
  getObject, table, teardown, waitFor, waitForCondition,
} from './support.ts';

/** The FIELDS of `kubectl explain`: each field's type and its description as one line. */
function explainedFields(output: string): Map<string, { type: string; description: string }> {
  const fields = new Map<string, { type: string; description: string }>();
  const lines = output.slice(output.indexOf('FIELDS:')).split('\n').slice(1);
  let current: { type: string; description: string } | undefined;
  for (const line of lines) {
    const header = /^ {2}(\w+)\t<(\w+)>/.exec(line);
    if (header) fields.set(header[1]!, (current = { type: header[2]!, description: '' }));
    else if (current && line.startsWith('    ')) current.description = `${current.description} ${line.trim()}`.trim();
  }
  return fields;
}

describe('kubectl explain streambinding.spec.consumer', () => {
  beforeAll(() => applyCrds());

  it('says of every consumer setting what it does, its default and its unit', () => {
    const output = kubectl('explain', 'streambinding.spec.consumer');
    expect(output).toContain('FIELD: consumer <Object>');
    expect(output).toMatch(/DESCRIPTION:\s+Settings of an input binding \(direction: input only\)/);
    const fields = explainedFields(output);
    expect([...fields.keys()].sort()).toEqual(Object.keys(ConsumerSettings.properties).sort());
    for (const [name, field] of fields) expect(field.description, name).toMatch(/Default /);
    expect(fields.get('maxAttempts')).toEqual({
      type: 'integer',
      description: expect.stringContaining(`the first one included; after the last failed attempt the message is dead-lettered (or dropped, see deadLetter). 1 means no retries. Default ${CONSUMER_DEFAULTS.maxAttempts}.`),
    });
    for (const name of ['backOffInitialInterval', 'backOffMaxInterval']) {
      expect(fields.get(name)?.description, name).toMatch(new RegExp(`in milliseconds.*Default ${CONSUMER_DEFAULTS[name as 'backOffMaxInterval']} \\(\\d+ s\\)\\.$`));
    }
    expect(fields.get('deadLetter')?.description).toContain(`Default ${CONSUMER_DEFAULTS.deadLetter}.`);
    expect(fields.get('startOffset')?.description).toContain('Default earliest for a group, latest for an anonymous input.');
  });
});

describe('kubectl get', () => {
  const marker = `kctl${suffix()}`;
  let namespace: string;
  let operator: Operator | undefined;
  const topic = `orders-${marker}`;

  beforeAll(async () => {
    await applyCrds();
    namespace = await createNamespace('kubectl');
    await createRabbitBinder(namespace, 'rabbit', { default: true });
    await createKafkaBinder(namespace, 'kafka');
    await createBinding(namespace, 'orders-in', { direction: 'input', destination: topic, group: 'billing', binder: 'kafka', consumer: { concurrency: 3 } });
    await createBinding(namespace, 'audit-out', { direction: 'output', destination: `audit-${marker}` });
    operator = await startOperator(namespace);
    await waitForCondition(namespace, 'streambindings', 'orders-in', 'True', 'Provisioned', 30_000);
    await waitForCondition(namespace, 'streambindings', 'audit-out', 'True', 'Provisioned', 30_000);
    // The lag is read right after the topic is created; a leader not elected yet defers it to the next resync.
    await waitFor('the lag of orders-in', async () => (await getObject<StreamBinding>(namespace, 'streambindings', 'orders-in'))?.status?.consumerLag !== undefined);
  });

  afterAll(async () => {
    await teardown(namespace, operator);
    await cleanupRabbit(marker);
    const admin = kafkaAdmin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic, `error.${topic}.billing`] }).catch(() => {});
    await admin.disconnect();
  });

  it('shows the broker each Binder connected to, with its version', () => {
    const rows = table(kubectl('get', 'binders', '-n', namespace));
    expect(rows.map((row) => Object.keys(row))[0]).toEqual(['NAME', 'TYPE', 'DEFAULT', 'BROKER', 'READY', 'AGE']);
    expect(rows.find((row) => row.NAME === 'rabbit')).toMatchObject({ TYPE: 'rabbit', DEFAULT: 'true', READY: 'True', BROKER: expect.stringMatching(/^RabbitMQ \d+\.\d+\.\d+$/) });
    expect(rows.find((row) => row.NAME === 'kafka')).toMatchObject({ TYPE: 'kafka', DEFAULT: '', READY: 'True', BROKER: expect.stringMatching(/^Kafka \d+\.\d+/) });
  });

  it('adds the Kafka partitions and the consumer lag with -o wide, and only then', () => {
    expect(Object.keys(table(kubectl('get', 'streambindings', '-n', namespace))[0]!)).toEqual(['NAME', 'DIRECTION', 'DESTINATION', 'GROUP', 'BINDER', 'READY', 'AGE']);
    const rows = table(kubectl('get', 'streambindings', '-n', namespace, '-o', 'wide'));
    expect(Object.keys(rows[0]!)).toEqual(['NAME', 'DIRECTION', 'DESTINATION', 'GROUP', 'BINDER', 'READY', 'AGE', 'PARTITIONS', 'LAG']);
    // concurrency 3: the topic gets a partition for each concurrent consumer. Nothing was
    // sent, so the group has nothing to catch up on; an output has no lag of its own.
    expect(rows.find((row) => row.NAME === 'orders-in')).toMatchObject({ DIRECTION: 'input', BINDER: 'kafka', READY: 'True', PARTITIONS: '3', LAG: '0' });
    expect(rows.find((row) => row.NAME === 'audit-out')).toMatchObject({ BINDER: 'rabbit', GROUP: '', PARTITIONS: '', LAG: '' });
  });
});
