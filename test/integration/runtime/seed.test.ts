/**
 * The seed scenario's behaviours, by count, through real sidecars on the memory binder and
 * on the real RabbitMQ: broadcast across groups, competition within a group, durable group
 * subscriptions, and anonymous consumers missing what was sent while they were down.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Binder } from '../../../runtime/src/binders/binder.ts';
import { createMemoryBinder } from '../../../runtime/src/binders/memory/index.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { freePort } from '../../support/tls.ts';
import { PushTarget, deleteRabbitObjects, delay, send, sidecarFrom, silent, unique, waitFor } from './support.ts';

const prefix = unique('seed');
afterAll(() => deleteRabbitObjects(prefix));

type Kind = 'memory' | 'rabbit';

/** One broker for a test: its binder yaml, and for memory the one in-process instance all sidecars share. */
async function broker(kind: Kind) {
  if (kind === 'memory') {
    const memory = createMemoryBinder({ name: 'b', type: 'memory' }, { logger: silent });
    await memory.connect();
    return { yaml: 'binders: { b: { type: memory } }', shared: { b: memory } as Record<string, Binder>, memory };
  }
  return { yaml: `binders: { b: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }`, shared: {} as Record<string, Binder> };
}

class Pod {
  private constructor(
    readonly app: PushTarget,
    public sidecar: RunningSidecar | undefined,
    private readonly start: () => Promise<RunningSidecar>,
  ) {}

  static async consumer(b: Awaited<ReturnType<typeof broker>>, destination: string, group?: string, consumer = '{}'): Promise<Pod> {
    const app = await PushTarget.start();
    const start = async () => {
      const running = await sidecarFrom(
        `${b.yaml}\nbindings: { input: { direction: input, destination: ${destination}, ${group ? `group: ${group},` : ''} consumer: ${consumer} } }\napp: { port: ${app.port} }`,
        { sharedBinders: b.shared },
      );
      await waitFor('the consumer to attach', () => running.sidecar.bindings()[0]!.consuming === true, 15_000);
      return running;
    };
    return new Pod(app, await start(), start);
  }

  ids(): string[] {
    return this.app.received.map((r) => String(r.headers['x-msg-id']));
  }

  count(ids: string[]): number {
    return this.ids().filter((id) => ids.includes(id)).length;
  }

  async stopSidecar(): Promise<void> {
    await this.sidecar?.close();
    this.sidecar = undefined;
  }

  async startSidecar(): Promise<void> {
    this.sidecar = await this.start();
  }

  async close(): Promise<void> {
    await this.stopSidecar();
    await this.app.close();
  }
}

async function producer(b: Awaited<ReturnType<typeof broker>>, destination: string): Promise<RunningSidecar> {
  return sidecarFrom(`${b.yaml}\nbindings: { output: { direction: output, destination: ${destination} } }`, { sharedBinders: b.shared });
}

async function sendMany(sidecar: RunningSidecar, count: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${tag}-${i}`;
    const answer = await send(sidecar, 'output', JSON.stringify(id), { 'content-type': 'application/json', 'x-msg-id': id });
    expect(answer.status).toBe(202);
    ids.push(id);
  }
  return ids;
}

// Each test has its own destination (and memory broker), so they run side by side.
describe.concurrent.each(['memory', 'rabbit'] as const)('seed behaviours on %s', (kind) => {
  const quietMs = kind === 'memory' ? 200 : 1000;

  it('broadcast: two groups each get every message', async () => {
    const b = await broker(kind);
    const destination = unique(`${prefix}-broadcast`);
    const [a, c] = [await Pod.consumer(b, destination, 'groupA'), await Pod.consumer(b, destination, 'groupB')];
    const out = await producer(b, destination);
    try {
      const ids = await sendMany(out, 5, 'b');
      await waitFor('both groups to get 5', () => a.count(ids) === 5 && c.count(ids) === 5, 15_000);
      await delay(quietMs);
      expect([a.ids().length, c.ids().length]).toEqual([5, 5]);
    } finally {
      await Promise.all([a.close(), c.close(), out.close()]);
    }
  });

  it('competition: members of one group both get some, none twice', async () => {
    const b = await broker(kind);
    const destination = unique(`${prefix}-compete`);
    const [a, c] = [await Pod.consumer(b, destination, 'g'), await Pod.consumer(b, destination, 'g')];
    const out = await producer(b, destination);
    try {
      const ids = await sendMany(out, 10, 'c');
      await waitFor('10 deliveries', () => a.count(ids) + c.count(ids) >= 10, 15_000);
      await delay(quietMs);
      expect(a.ids().length).toBeGreaterThan(0);
      expect(c.ids().length).toBeGreaterThan(0);
      expect([...a.ids(), ...c.ids()].sort()).toEqual([...ids].sort());
    } finally {
      await Promise.all([a.close(), c.close(), out.close()]);
    }
  });

  it('durability: 4 sent while the group consumer is down, 4 received when it is back', async () => {
    const b = await broker(kind);
    const destination = unique(`${prefix}-durable`);
    const a = await Pod.consumer(b, destination, 'g');
    const out = await producer(b, destination);
    try {
      await a.stopSidecar();
      const ids = await sendMany(out, 4, 'd');
      await a.startSidecar();
      await waitFor('4 deliveries after the restart', () => a.count(ids) === 4, 15_000);
      await delay(quietMs);
      expect(a.ids().sort()).toEqual([...ids].sort());
    } finally {
      await Promise.all([a.close(), out.close()]);
    }
  });

  it('anonymous: 0 of the 4 sent while it was down', async () => {
    const b = await broker(kind);
    const destination = unique(`${prefix}-anon`);
    const anonymous = await Pod.consumer(b, destination);
    const witness = await Pod.consumer(b, destination, 'g');
    const out = await producer(b, destination);
    try {
      const before = await sendMany(out, 2, 'up');
      await waitFor('the anonymous consumer to get 2 while up', () => anonymous.count(before) === 2, 15_000);
      await anonymous.stopSidecar();
      const ids = await sendMany(out, 4, 'down');
      await waitFor('the group witness to get the 4', () => witness.count(ids) === 4, 15_000);
      await anonymous.startSidecar();
      await delay(quietMs);
      expect(anonymous.count(ids)).toBe(0);
      expect(anonymous.count(before)).toBe(2);
    } finally {
      await Promise.all([anonymous.close(), witness.close(), out.close()]);
    }
  });

  it('a message the app keeps failing is retried maxAttempts times, then dead-lettered with SCSt headers', async () => {
    const b = await broker(kind);
    const destination = unique(`${prefix}-dlq`);
    const a = await Pod.consumer(b, destination, 'g', '{ maxAttempts: 3, backOffInitialInterval: 10, backOffMaxInterval: 50, deadLetter: true }');
    a.app.statuses = [503];
    const out = await producer(b, destination);
    try {
      await sendMany(out, 1, 'poison');
      const letters = await waitFor('the dead letter', async () => (await deadLetters(kind, b, destination)).length === 1, 15_000).then(() => deadLetters(kind, b, destination));
      expect(a.app.received.map((r) => r.headers['x-bindery-delivery-attempt'])).toEqual(['1', '2', '3']);
      expect(letters[0]).toMatchObject({
        'x-exception-message': 'the app answered HTTP 503 (attempt 3 of 3)',
        'x-original-exchange': destination,
      });
    } finally {
      await Promise.all([a.close(), out.close()]);
    }
  });

  it('an app that starts after its sidecar loses nothing: pushes wait until the app listens', async () => {
    const b = await broker(kind);
    const destination = unique(`${prefix}-late-app`);
    const port = await freePort();
    const out = await producer(b, destination);
    // A pod's order: the sidecar first, its app seconds later; refused pushes would use up these attempts at once.
    const yaml = `${b.yaml}\nbindings: { input: { direction: input, destination: ${destination}, group: g, consumer: { maxAttempts: 2, backOffInitialInterval: 10 } } }\napp: { port: ${port} }`;
    const first = await sidecarFrom(yaml, { sharedBinders: b.shared });
    let second: RunningSidecar | undefined;
    let app: PushTarget | undefined;
    try {
      // The group's queue exists and holds what is sent before the pod (re)starts, as after a rollout.
      await waitFor('the group\'s queue to exist', () => first.sidecar.bindings()[0]!.consuming === true, 15_000);
      await first.close();
      const sent = await sendMany(out, 3, 'early');
      second = await sidecarFrom(yaml, { sharedBinders: b.shared });
      await waitFor('the consumer to attach', () => second!.sidecar.bindings()[0]!.consuming === true, 15_000);
      await delay(quietMs);
      app = await PushTarget.start(port);
      await waitFor('the 3 pushed once the app listens', () => app!.received.length === 3, 15_000);
      expect(app.received.map((r) => [r.headers['x-msg-id'], r.headers['x-bindery-delivery-attempt']]).sort())
        .toEqual(sent.map((id) => [id, '1']).sort());
    } finally {
      await Promise.all([second?.close(), out.close(), app?.close()]);
    }
  });
});

/** The headers of the dead letters of group g. */
async function deadLetters(kind: Kind, b: Awaited<ReturnType<typeof broker>>, destination: string): Promise<Array<Record<string, unknown>>> {
  if (kind === 'memory') return b.memory!.deadLetters(destination, 'g').map((m) => m.headers);
  const env = testEnv();
  const auth = Buffer.from(`${env.rabbitManagementUser}:${env.rabbitManagementPassword}`).toString('base64');
  const response = await fetch(`${env.rabbitManagementUrl}/api/queues/%2F/${encodeURIComponent(`${destination}.g.dlq`)}/get`, {
    method: 'POST',
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify({ count: 10, ackmode: 'ack_requeue_true', encoding: 'auto' }),
  });
  if (response.status === 404) return [];
  const messages = (await response.json()) as Array<{ properties: { headers?: Record<string, unknown> } }>;
  return messages.map((m) => m.properties.headers ?? {});
}
