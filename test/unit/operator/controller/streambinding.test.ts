/**
 * The StreamBinding reconciler's branches against a fake broker session (as the RabbitMQ
 * topology operator tests its controllers): release policies, previous binders, the sharing
 * rule, and its terminal, wait and error outcomes. What the brokers do is tested on the real
 * brokers (test/integration/operator).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Binder, StreamBinding, StreamBindingSpec, StreamBindingStatus } from '../../../../operator/src/api/types.ts';
import { StreamBindingReconciler } from '../../../../operator/src/controller/streambinding.ts';
import type { EventRecorder } from '../../../../operator/src/k8s/events.ts';
import type { ResourceClient } from '../../../../operator/src/k8s/resources.ts';
import { objectIds, type DesiredTopology } from '../../../../topology/desired.ts';
import { BrokerPool } from '../../../../topology/pool.ts';
import { BrokerError, type BrokerFailure, type BrokerSession, type TopologyCheck, type TopologyUsage } from '../../../../topology/session.ts';

const namespace = 'shop';
const POLL_MS = 1_000;

/** A broker that keeps the names of the objects declared on it, with usage set by the test. */
class FakeBroker implements BrokerSession {
  readonly type = 'rabbit' as const;
  readonly version = 'RabbitMQ fake';
  closed = false;
  readonly objects = new Set<string>();
  readonly usageOf = new Map<string, TopologyUsage>();
  declares = 0;
  deletes = 0;
  checks = 0;
  /** The next declare fails with this reason. */
  refuse?: BrokerFailure;
  /** What `lag` reads, or the failure it throws. */
  lagReading: number | BrokerError = 0;

  onDown(): void {}

  async declare(desired: DesiredTopology): Promise<void> {
    if (this.refuse) throw new BrokerError(this.refuse, `refused: ${this.refuse}`);
    this.declares += 1;
    for (const id of objectIds(desired)) this.objects.add(id);
  }

  async check(desired: DesiredTopology, options: { lag: boolean }): Promise<TopologyCheck> {
    this.checks += 1;
    const missing = objectIds(desired).filter((id) => !this.objects.has(id));
    if (!options.lag || desired.type !== 'rabbit' || desired.rabbit.consumeQueues.length === 0) return { missing };
    return this.lagReading instanceof BrokerError ? { missing, lagError: this.lagReading } : { missing, lag: this.lagReading };
  }

  async usage(desired: DesiredTopology): Promise<TopologyUsage> {
    const usage = { messages: 0, consumers: 0 };
    for (const id of objectIds(desired)) {
      const own = this.usageOf.get(id);
      usage.messages += own?.messages ?? 0;
      usage.consumers += own?.consumers ?? 0;
    }
    return usage;
  }

  async delete(desired: DesiredTopology): Promise<void> {
    this.deletes += 1;
    for (const id of objectIds(desired)) this.objects.delete(id);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function binder(name: string, options: { default?: boolean; host?: string; secret?: string } = {}): Binder {
  return {
    apiVersion: 'bindery.io/v1alpha1',
    kind: 'Binder',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
    spec: {
      type: 'rabbit',
      ...(options.default !== undefined && { default: options.default }),
      rabbit: {
        host: options.host ?? name,
        port: 5672,
        vhost: '/',
        tls: false,
        ...(options.secret && { credentialsSecret: { name: options.secret, usernameKey: 'username', passwordKey: 'password' } }),
      },
    },
  };
}

function streamBinding(name: string, spec: StreamBindingSpec, status?: StreamBindingStatus): StreamBinding {
  return {
    apiVersion: 'bindery.io/v1alpha1',
    kind: 'StreamBinding',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
    spec,
    ...(status && { status }),
  };
}

/** The reconciler over in-memory listers and one fake broker per Binder host. */
function setup(binders: Binder[], bindings: StreamBinding[] = []) {
  const brokers = new Map<string, FakeBroker>();
  const broker = (host: string): FakeBroker => {
    let found = brokers.get(host);
    if (!found) brokers.set(host, (found = new FakeBroker()));
    return found;
  };
  const unreachable = new Set<string>();
  const events: Array<{ reason: string; message: string }> = [];
  const recorder: EventRecorder = { record: (_target, _type, reason, message) => void events.push({ reason, message }) };
  const pool = new BrokerPool({
    failureMemoryMs: 0,
    connect: async (settings) => {
      if (settings.type !== 'rabbit') throw new Error('rabbit only here');
      // The Binders name short hosts, which reach the session as Services of their namespace
      // (`rabbit-a.shop.svc`): the fake brokers are keyed by the Service's name.
      const service = settings.host.split('.')[0]!;
      if (unreachable.has(service)) throw new BrokerError('Unreachable', `RabbitMQ at ${settings.host}:5672 is unreachable`);
      return broker(service);
    },
  });
  const byName = <T extends { metadata: { name: string; namespace: string } }>(items: T[]) => ({
    get: (name: string, ns: string) => items.find((i) => i.metadata.name === name && i.metadata.namespace === ns),
    list: (ns?: string) => items.filter((i) => ns === undefined || i.metadata.namespace === ns),
  });
  const reconciler = new StreamBindingReconciler({
    bindings: byName(bindings),
    binders: byName(binders),
    secrets: { get: async () => undefined },
    client: {} as ResourceClient<StreamBinding>,
    pool,
    events: recorder,
    logger: pino({ level: 'silent' }),
    pollMs: POLL_MS,
  });
  return { reconciler, broker, unreachable, events, bindings };
}

const groupInput: StreamBindingSpec = { direction: 'input', destination: 'orders', group: 'audit', binder: 'rabbit-a', consumer: { deadLetter: true } };

describe('StreamBindingReconciler.reconcile', () => {
  it('declares the topology and reports it: Ready, Provisioned, status.binder and status.topology', async () => {
    const { reconciler, broker } = setup([binder('rabbit-a')]);
    const result = await reconciler.reconcile(streamBinding('in', groupInput));
    expect(result.outcome).toEqual({ kind: 'done' });
    expect(result.conditions.Ready).toMatchObject({ status: 'True', reason: 'Provisioned' });
    expect(result.status).toMatchObject({ binder: 'rabbit-a', topology: { exchange: 'orders', queues: ['orders.audit'], deadLetterQueue: 'orders.audit.dlq' } });
    expect([...broker('rabbit-a').objects]).toEqual(['exchange:orders', 'queue:orders.audit', 'queue:orders.audit.dlq']);
  });

  it.each([
    { case: 'an input with a group: the first reading', spec: groupInput, shown: undefined, reading: 25, expected: 25 },
    { case: 'a small move is not written', spec: groupInput, shown: 25, reading: 30, expected: 25 },
    { case: 'a move past the threshold is', spec: groupInput, shown: 25, reading: 40, expected: 40 },
    { case: 'caught up is always written', spec: groupInput, shown: 3, reading: 0, expected: 0 },
    { case: 'an output has none (and a stale one goes)', spec: { direction: 'output', destination: 'orders', binder: 'rabbit-a' }, shown: 7, reading: 25, expected: undefined },
    { case: 'an anonymous input has none', spec: { direction: 'input', destination: 'orders', binder: 'rabbit-a' }, shown: undefined, reading: 25, expected: undefined },
  ] satisfies Array<{ case: string; spec: StreamBindingSpec; shown: number | undefined; reading: number; expected: number | undefined }>)(
    'status.consumerLag: $case',
    async ({ spec, shown, reading, expected }) => {
      const { reconciler, broker } = setup([binder('rabbit-a')]);
      broker('rabbit-a').lagReading = reading;
      const result = await reconciler.reconcile(streamBinding('in', spec, shown === undefined ? undefined : { consumerLag: shown }));
      expect(result.status).toHaveProperty('consumerLag', expected);
    },
  );

  it('keeps the lag shown when it cannot be read, and stays Ready', async () => {
    const { reconciler, broker } = setup([binder('rabbit-a')]);
    broker('rabbit-a').lagReading = new BrokerError('Unreachable', 'channel closed');
    const result = await reconciler.reconcile(streamBinding('in', groupInput, { consumerLag: 12 }));
    expect(result.status?.consumerLag).toBe(12);
    expect(result.conditions.Ready).toMatchObject({ status: 'True', reason: 'Provisioned' });
  });

  it('an unchanged resync only reads; an object deleted by hand is declared again with a DriftRepaired event', async () => {
    const { reconciler, broker, events } = setup([binder('rabbit-a')]);
    const binding = streamBinding('in', groupInput);
    await reconciler.reconcile(binding);
    const checks = broker('rabbit-a').checks;
    broker('rabbit-a').lagReading = 40;
    const resynced = await reconciler.reconcile(binding);
    expect(broker('rabbit-a').declares).toBe(1);
    // Drift and lag come from one check.
    expect(broker('rabbit-a').checks - checks).toBe(1);
    expect(resynced.status?.consumerLag).toBe(40);
    broker('rabbit-a').objects.delete('queue:orders.audit');
    await reconciler.reconcile(binding);
    expect(broker('rabbit-a').declares).toBe(2);
    expect(events).toEqual([{ reason: 'DriftRepaired', message: 'Declared again: queue:orders.audit' }]);
  });

  it.each([
    ['a Binder that does not exist', [binder('rabbit-a')], { ...groupInput, binder: 'missing' }, 'BinderNotFound'],
    ['no binder named and no default Binder', [binder('rabbit-a')], { ...groupInput, binder: undefined }, 'NoDefaultBinder'],
    ['no binder named and two default Binders', [binder('a', { default: true }), binder('b', { default: true })], { ...groupInput, binder: undefined }, 'NoDefaultBinder'],
  ] as const)('waits, not failing, on %s', async (_, binders, spec, reason) => {
    const { reconciler } = setup([...binders]);
    const result = await reconciler.reconcile(streamBinding('in', spec));
    expect(result.outcome).toMatchObject({ kind: 'wait', afterMs: POLL_MS * 6 });
    expect(result.conditions.Ready).toMatchObject({ status: 'False', reason });
  });

  it('uses the namespace\'s single default Binder when the binding names none', async () => {
    const { reconciler } = setup([binder('other'), binder('main', { default: true })]);
    const result = await reconciler.reconcile(streamBinding('in', { ...groupInput, binder: undefined }));
    expect(result.status?.binder).toBe('main');
  });

  it('waits for a missing Secret, and looks again (Secrets are read, not watched)', async () => {
    const { reconciler } = setup([binder('rabbit-a', { secret: 'creds' })]);
    const result = await reconciler.reconcile(streamBinding('in', groupInput));
    expect(result.outcome).toMatchObject({ kind: 'wait', afterMs: POLL_MS * 6 });
    expect(result.conditions.Ready).toMatchObject({ status: 'False', reason: 'BinderNotReady' });
    expect(result.conditions.BinderReady).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
  });

  it('an unreachable broker is an error to retry with back-off, reported on BinderReady', async () => {
    const { reconciler, unreachable } = setup([binder('rabbit-a')]);
    unreachable.add('rabbit-a');
    const result = await reconciler.reconcile(streamBinding('in', groupInput));
    expect(result.outcome.kind).toBe('error');
    expect(result.conditions.Ready).toMatchObject({ status: 'False', reason: 'BinderNotReady' });
    expect(result.conditions.BinderReady).toMatchObject({ status: 'False', reason: 'Unreachable' });
  });

  it.each([
    ['IncompatibleTopology', 'terminal'],
    ['ProvisioningFailed', 'error'],
  ] as const)('a declaration refused as %s: Ready=False with that reason, outcome %s', async (reason, kind) => {
    const { reconciler, broker } = setup([binder('rabbit-a')]);
    broker('rabbit-a').refuse = reason;
    const result = await reconciler.reconcile(streamBinding('in', groupInput));
    expect(result.outcome.kind).toBe(kind);
    expect(result.conditions.Ready).toMatchObject({ status: 'False', reason });
    expect(result.conditions.BinderReady).toMatchObject({ status: 'True', reason: 'Connected' });
  });

  describe('a binding moved to another Binder', () => {
    const moved = (policy: StreamBindingSpec['deletionPolicy']) =>
      streamBinding('in', { ...groupInput, binder: 'rabbit-b', deletionPolicy: policy }, { binder: 'rabbit-a' });

    it('waits while consumers still read the old topology, keeping the old Binder in previousBinders', async () => {
      const { reconciler, broker } = setup([binder('rabbit-a'), binder('rabbit-b')]);
      broker('rabbit-a').objects.add('queue:orders.audit');
      broker('rabbit-a').usageOf.set('queue:orders.audit', { messages: 0, consumers: 2 });
      const result = await reconciler.reconcile(moved('Delete'));
      expect(result.outcome).toMatchObject({ kind: 'wait', afterMs: POLL_MS });
      expect(result.conditions.Ready).toMatchObject({ status: 'True', reason: 'Provisioned' });
      expect(result.conditions.TopologyReleased).toMatchObject({ status: 'False', reason: 'WaitingForConsumers' });
      expect(result.status?.previousBinders).toEqual([{ binder: 'rabbit-a', generation: 1 }]);
      expect(broker('rabbit-a').objects.has('queue:orders.audit')).toBe(true);
    });

    it.each([
      ['Retain', true],
      ['Delete', false],
      ['ForceDelete', false],
    ] as const)('%s: once no consumer is left, the old topology is released (kept on the broker: %s)', async (policy, kept) => {
      const { reconciler, broker } = setup([binder('rabbit-a'), binder('rabbit-b')]);
      for (const id of ['exchange:orders', 'queue:orders.audit', 'queue:orders.audit.dlq']) broker('rabbit-a').objects.add(id);
      const result = await reconciler.reconcile(moved(policy));
      expect(result.outcome).toEqual({ kind: 'done' });
      expect(result.status?.previousBinders).toBeUndefined();
      expect(result.conditions.TopologyReleased).toBeNull();
      expect(broker('rabbit-a').objects.has('queue:orders.audit')).toBe(kept);
      expect(broker('rabbit-b').objects.has('queue:orders.audit')).toBe(true);
    });
  });
});

describe('StreamBindingReconciler.finalize and needsFinalizer', () => {
  const deleting = (policy: StreamBindingSpec['deletionPolicy'], spec: StreamBindingSpec = groupInput) =>
    streamBinding('in', { ...spec, deletionPolicy: policy }, { binder: 'rabbit-a' });

  it.each([
    ['Retain', false],
    ['Delete', true],
    ['ForceDelete', true],
    [undefined, false],
  ] as const)('deletionPolicy %s: finalizer needed %s', (policy, needed) => {
    const { reconciler } = setup([binder('rabbit-a')]);
    expect(reconciler.needsFinalizer(deleting(policy))).toBe(needed);
  });

  it('Delete waits while the queue holds messages (QueueNotEmpty), then deletes it once empty', async () => {
    const { reconciler, broker } = setup([binder('rabbit-a')]);
    await reconciler.reconcile(deleting('Delete'));
    broker('rabbit-a').usageOf.set('queue:orders.audit', { messages: 3, consumers: 0 });
    const waiting = await reconciler.finalize(deleting('Delete'));
    expect(waiting.outcome).toMatchObject({ kind: 'wait', afterMs: POLL_MS });
    expect(waiting.conditions.Ready).toMatchObject({ status: 'False', reason: 'QueueNotEmpty' });
    expect(broker('rabbit-a').objects.size).toBe(3);
    broker('rabbit-a').usageOf.clear();
    expect((await reconciler.finalize(deleting('Delete'))).outcome).toEqual({ kind: 'done' });
    expect(broker('rabbit-a').objects.size).toBe(0);
  });

  it('ForceDelete deletes whatever the queue holds', async () => {
    const { reconciler, broker } = setup([binder('rabbit-a')]);
    await reconciler.reconcile(deleting('ForceDelete'));
    broker('rabbit-a').usageOf.set('queue:orders.audit', { messages: 3, consumers: 1 });
    expect((await reconciler.finalize(deleting('ForceDelete'))).outcome).toEqual({ kind: 'done' });
    expect(broker('rabbit-a').objects.size).toBe(0);
  });

  it('keeps what another StreamBinding on the same broker still uses (the sharing rule)', async () => {
    const output = streamBinding('out', { direction: 'output', destination: 'orders', binder: 'rabbit-b' });
    // rabbit-b is another Binder of the same broker: its bindings share the broker's objects.
    const { reconciler, broker } = setup([binder('rabbit-a', { host: 'broker' }), binder('rabbit-b', { host: 'broker' })], [output]);
    await reconciler.reconcile(deleting('ForceDelete'));
    await reconciler.finalize(deleting('ForceDelete'));
    expect([...broker('broker').objects]).toEqual(['exchange:orders']);
  });

  it('a broker that cannot be reached fails the finalizer with DeletionFailed, to be retried', async () => {
    const { reconciler, unreachable } = setup([binder('rabbit-a')]);
    unreachable.add('rabbit-a');
    const result = await reconciler.finalize(deleting('Delete'));
    expect(result.outcome.kind).toBe('error');
    expect(result.conditions.Ready).toMatchObject({ status: 'False', reason: 'DeletionFailed' });
  });

  it('Retain deletes nothing', async () => {
    const { reconciler, broker } = setup([binder('rabbit-a')]);
    await reconciler.reconcile(deleting('Retain'));
    expect((await reconciler.finalize(deleting('Retain'))).outcome).toEqual({ kind: 'done' });
    expect(broker('rabbit-a').objects.size).toBe(3);
  });
});
