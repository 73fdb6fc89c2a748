/**
 * The CRDs of crds/ on the real API server: invalid resources are refused, and the message
 * names the field; kubectl shows the printer columns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCrds, createBinding, createNamespace, deleteNamespace, kube, kubectl, patchSpec } from './support.ts';

let namespace: string;

beforeAll(async () => {
  await applyCrds();
  namespace = await createNamespace('crd');
});

afterAll(async () => {
  await deleteNamespace(namespace);
});

async function refusal(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
  } catch (error) {
    const body = (error as { body?: unknown }).body;
    return typeof body === 'string' ? (JSON.parse(body) as { message: string }).message : String(error);
  }
  throw new Error('the API server accepted it');
}

const createBinder = (name: string, spec: object) =>
  kube().custom.createNamespacedCustomObject({
    group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'binders',
    body: { apiVersion: 'bindery.io/v1alpha1', kind: 'Binder', metadata: { name }, spec },
  });

describe('invalid resources are refused with the field named', () => {
  it.each([
    ['group on an output', { direction: 'output', destination: 'd', group: 'g' }, 'spec.group', 'only allowed on input'],
    ['consumer on an output', { direction: 'output', destination: 'd', consumer: { maxAttempts: 2 } }, 'spec.consumer', 'only allowed on input'],
    ['producer on an input', { direction: 'input', destination: 'd', producer: { partitionCount: 2 } }, 'spec.producer', 'only allowed on output'],
    ['an unknown direction', { direction: 'sideways', destination: 'd' }, 'spec.direction', 'Unsupported value'],
    ['a destination with a space', { direction: 'output', destination: 'bad name' }, 'spec.destination', 'should match'],
    ['a group with a slash', { direction: 'input', destination: 'd', group: 'a/b' }, 'spec.group', 'should match'],
    ['an unknown deletionPolicy', { direction: 'input', destination: 'd', deletionPolicy: 'Shred' }, 'spec.deletionPolicy', 'Unsupported value'],
    ['partitionCount 0', { direction: 'output', destination: 'd', producer: { partitionCount: 0 } }, 'spec.producer.partitionCount', 'greater than or equal to 1'],
    ['an unknown partitionSelector', { direction: 'output', destination: 'd', producer: { partitionSelector: 'crc' } }, 'spec.producer.partitionSelector', 'Unsupported value'],
    ['an unknown startOffset', { direction: 'input', destination: 'd', consumer: { startOffset: 'middle' } }, 'spec.consumer.startOffset', 'Unsupported value'],
    ['no destination', { direction: 'input' }, 'spec.destination', 'Required value'],
  ])('StreamBinding with %s', async (_, spec, field, words) => {
    const message = await refusal(() => createBinding(namespace, `bad-${Math.random().toString(36).slice(2, 8)}`, spec as never));
    expect(message).toContain(field);
    expect(message).toContain(words);
  });

  it.each([
    ['rabbit settings on a kafka Binder', { type: 'kafka', kafka: { brokers: ['k:9092'] }, rabbit: { host: 'r' } }, 'spec.rabbit', 'only allowed with type: rabbit'],
    ['kafka settings on a rabbit Binder', { type: 'rabbit', rabbit: { host: 'r' }, kafka: { brokers: ['k:9092'] } }, 'spec.kafka', 'only allowed with type: kafka'],
    ['a rabbit Binder without rabbit settings', { type: 'rabbit' }, 'spec.rabbit', 'required with type: rabbit'],
    ['an unknown type', { type: 'pulsar' }, 'spec.type', 'Unsupported value'],
    ['a broker without a port', { type: 'kafka', kafka: { brokers: ['kafka'] } }, 'spec.kafka.brokers[0]', 'should match'],
    ['an unknown SASL mechanism', { type: 'kafka', kafka: { brokers: ['k:9092'], sasl: { mechanism: 'gssapi', secret: { name: 's' } } } }, 'spec.kafka.sasl.mechanism', 'Unsupported value'],
    ['port 70000', { type: 'rabbit', rabbit: { host: 'r', port: 70000 } }, 'spec.rabbit.port', 'less than or equal to 65535'],
  ])('Binder with %s', async (_, spec, field, words) => {
    const message = await refusal(() => createBinder(`bad-${Math.random().toString(36).slice(2, 8)}`, spec));
    expect(message).toContain(field);
    expect(message).toContain(words);
  });
});

describe('immutable fields and growing partitions', () => {
  beforeAll(async () => {
    await createBinding(namespace, 'in', { direction: 'input', destination: 'orders', group: 'audit' });
    await createBinding(namespace, 'anon', { direction: 'input', destination: 'orders' });
    await createBinding(namespace, 'out', { direction: 'output', destination: 'orders', producer: { partitionCount: 4 } });
  });

  it.each([
    ['direction', 'in', { direction: 'output', group: null }, 'spec.direction', 'direction is immutable'],
    ['destination', 'in', { destination: 'payments' }, 'spec.destination', 'destination is immutable'],
    ['group (changed)', 'in', { group: 'billing' }, 'spec.group', 'group is immutable'],
    ['group (removed)', 'in', { group: null }, 'spec.group', 'group is immutable'],
    ['group (added)', 'anon', { group: 'late' }, 'spec.group', 'group is immutable'],
    ['partitionCount (shrunk)', 'out', { producer: { partitionCount: 2 } }, 'spec.producer.partitionCount', 'partitionCount may only grow'],
  ])('%s cannot change', async (_, name, spec, field, words) => {
    const message = await refusal(() => patchSpec(namespace, 'streambindings', name, spec));
    expect(message).toContain(field);
    expect(message).toContain(words);
  });

  it('partitionCount may grow, and the binder may change', async () => {
    await patchSpec(namespace, 'streambindings', 'out', { producer: { partitionCount: 8 }, binder: 'other' });
  });

  it('kubectl get shows the columns of SPEC 3', () => {
    const header = kubectl('get', 'sb', '-n', namespace).split('\n')[0]!;
    expect(header.split(/\s+/)).toEqual(['NAME', 'DIRECTION', 'DESTINATION', 'GROUP', 'BINDER', 'READY', 'AGE']);
    expect(kubectl('explain', 'streambinding.spec.deletionPolicy')).toContain('ForceDelete');
  });
});
