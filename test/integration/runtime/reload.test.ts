/**
 * Hot reload: a binding whose binder changes moves without a restart, under a steady send
 * load, and every message answered 202 reaches the app exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../runtime/src/config/load.ts';
import { startSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { PushTarget, deleteRabbitObjects, delay, send, silent, unique, waitFor } from './support.ts';

const destination = unique('reload');
afterAll(() => deleteRabbitObjects(destination));

function yaml(binder: 'mem' | 'rabbit', appPort: number, extra = ''): string {
  return `binders:
  mem: { type: memory }
  rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } }
bindings:
  out: { direction: output, destination: ${destination}, binder: ${binder} }
  in: { direction: input, destination: ${destination}, group: g, binder: ${binder}, consumer: { concurrency: 4 } }
  ${extra}
app: { port: ${appPort} }
http: { port: 0, opsPort: 0, opsHost: 127.0.0.1 }`;
}

describe('hot reload', () => {
  it('moves output and input from memory to RabbitMQ under load: every 202 received once, nothing refused', async () => {
    const target = await PushTarget.start();
    const load = (binder: 'mem' | 'rabbit') => parseConfig(yaml(binder, target.port, `other: { direction: output, destination: ${destination}-other, binder: mem }`), 'bindery.yaml');
    const running = await startSidecar({ config: await load('mem'), logger: silent, drainQuietMs: 300 });
    try {
      const otherProducer = (running.sidecar as unknown as { handles: Map<string, { producer?: unknown }> }).handles.get('other')!;
      const accepted: string[] = [];
      const refused: number[] = [];
      let sending = true;
      const sender = (async () => {
        for (let i = 0; sending; i++) {
          const answer = await send(running, 'out', JSON.stringify(i), { 'content-type': 'application/json', 'x-msg-id': `m-${i}` });
          if (answer.status === 202) accepted.push(`m-${i}`);
          else refused.push(answer.status);
          await delay(2);
        }
      })();
      await waitFor('30 sends on memory', () => accepted.length >= 30, 10_000);
      const producerBefore = otherProducer.producer;
      await running.sidecar.reload(await load('rabbit'));
      const views = running.sidecar.bindings();
      expect(views.find((b) => b.name === 'out')).toMatchObject({ binder: 'rabbit', binderType: 'rabbit' });
      expect(views.find((b) => b.name === 'in')).toMatchObject({ binder: 'rabbit', consuming: true });
      // An unchanged binding is left alone.
      expect(otherProducer.producer).toBe(producerBefore);
      const atSwitch = accepted.length;
      await waitFor('30 sends on RabbitMQ', () => accepted.length >= atSwitch + 30, 20_000);
      sending = false;
      await sender;
      await waitFor('every accepted message pushed', () => new Set(target.received.map((r) => r.headers['x-msg-id'])).size >= accepted.length, 20_000);
      await delay(300);
      const ids = target.received.map((r) => String(r.headers['x-msg-id']));
      expect(refused).toEqual([]);
      expect(ids.filter((id) => accepted.includes(id)).sort()).toEqual([...accepted].sort());
      expect(ids.length).toBe(new Set(ids).size);
    } finally {
      await running.close();
      await target.close();
    }
  });
});

describe('hot reload on memory', () => {
  it('adds, removes and restarts bindings; unchanged ones keep their consumer', async () => {
    const { createMemoryBinder } = await import('../../../runtime/src/binders/memory/index.ts');
    const memory = createMemoryBinder({ name: 'mem', type: 'memory' }, { logger: silent });
    await memory.connect();
    const dest = unique('reload-mem');
    const text = (bindings: string) => `binders: { mem: { type: memory } }\nbindings:\n${bindings}\nhttp: { port: 0, opsPort: 0, opsHost: 127.0.0.1 }`;
    const keep = `  keep: { direction: input, destination: ${dest}, group: k }`;
    const anon = (maxAttempts: number) => `  anon: { direction: input, destination: ${dest}, consumer: { maxAttempts: ${maxAttempts} } }`;
    const running = await startSidecar({ config: await parseConfig(text(`${keep}\n${anon(3)}`), 'b.yaml'), logger: silent, sharedBinders: { mem: memory } });
    try {
      await waitFor('consumers', () => running.sidecar.bindings().every((b) => b.consuming), 5_000);
      const handles = (running.sidecar as unknown as { handles: Map<string, { consumer?: unknown }> }).handles;
      const keepConsumer = handles.get('keep')!.consumer;
      const anonConsumer = handles.get('anon')!.consumer;
      await running.sidecar.reload(await parseConfig(text(`${keep}\n${anon(5)}\n  out: { direction: output, destination: ${dest} }`), 'b.yaml'));
      expect(handles.get('keep')!.consumer).toBe(keepConsumer);
      expect(handles.get('anon')!.consumer).not.toBe(anonConsumer);
      expect(handles.get('anon')!.consumer).toBeDefined();
      expect((await send(running, 'out', '1')).status).toBe(202);
      await running.sidecar.reload(await parseConfig(text(keep), 'b.yaml'));
      expect(running.sidecar.bindings().map((b) => b.name)).toEqual(['keep']);
      expect((await send(running, 'out', '1')).status).toBe(404);
    } finally {
      await running.close();
      await memory.close();
    }
  });
});

describe('hot reload to an unreachable binder', () => {
  it('returns without waiting for it; sends wait, then answer 503 with Retry-After; /readyz says why', async () => {
    const text = (binder: string) => `binders:
  mem: { type: memory }
  gone: { type: rabbit, rabbit: { url: "amqp://guest:guest@127.0.0.1:1" } }
bindings: { out: { direction: output, destination: ${unique('unreachable')}, binder: ${binder} } }
http: { port: 0, opsPort: 0, opsHost: 127.0.0.1 }`;
    const running = await startSidecar({ config: await parseConfig(text('mem'), 'u.yaml'), logger: silent, drainMaxMs: 300, sendWaitMs: 300 });
    try {
      const started = Date.now();
      await running.sidecar.reload(await parseConfig(text('gone'), 'u.yaml'));
      expect(Date.now() - started).toBeLessThan(5_000);
      const answer = await send(running, 'out', '1');
      expect([answer.status, answer.body.code, answer.headers.get('retry-after')]).toEqual([503, 'BINDERY_ERR_BINDER_UNAVAILABLE', '1']);
      const ready = await fetch(`${running.opsUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { binders: Record<string, string> }).binders.gone).not.toBe('up');
    } finally {
      await running.close();
    }
  });
});
