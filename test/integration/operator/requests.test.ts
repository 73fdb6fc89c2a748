/**
 * What the operator asks of the real API server: one reconcile per change, even for bindings
 * that exist while their Binder first connects; an unchanged resync sends no write (not even a
 * status PUT the API server would answer unchanged); and API calls share connections instead
 * of a TLS handshake each. Requests and connections are counted on undici's diagnostics
 * channels, which every request of this process (the operator runs in it) passes through.
 */
import diagnostics from 'node:diagnostics_channel';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Operator } from '../../../operator/src/operator.ts';
import {
  applyCrds, cleanupRabbit, createBinding, createNamespace, createRabbitBinder, startOperator, suffix, teardown, waitFor, waitForCondition,
} from './support.ts';

const BINDINGS = 24;
const marker = `req${suffix()}`;
let namespace: string;
let operator: Operator | undefined;

const seen = { writes: [] as string[], requests: 0, connections: 0 };
const onRequest = (message: unknown): void => {
  const { method, path } = (message as { request: { method: string; path: string } }).request;
  if (!path.includes(`/namespaces/${namespace}/`)) return;
  seen.requests += 1;
  if (method !== 'GET') seen.writes.push(`${method} ${path}`);
};
const onConnected = (): void => {
  seen.connections += 1;
};

beforeAll(async () => {
  await applyCrds();
  namespace = await createNamespace('requests');
  diagnostics.subscribe('undici:request:create', onRequest);
  diagnostics.subscribe('undici:client:connected', onConnected);
});

afterAll(async () => {
  diagnostics.unsubscribe('undici:request:create', onRequest);
  diagnostics.unsubscribe('undici:client:connected', onConnected);
  if (operator) await teardown(namespace, operator);
  await cleanupRabbit(marker);
});

async function reconciles(): Promise<number> {
  const metric = await operator!.metrics.reconciles.get();
  return metric.values.filter((v) => v.labels.controller === 'streambinding').reduce((sum, v) => sum + v.value, 0);
}

it('reconciles each new binding once, sends nothing on an unchanged resync, and reuses API connections', async () => {
  // Binder and bindings exist before the operator starts, so the Binder's first Ready arrives
  // while the bindings are being reconciled: it must not make each of them a second reconcile.
  await createRabbitBinder(namespace, 'rabbit', { default: true });
  await Promise.all(Array.from({ length: BINDINGS }, (_, i) =>
    createBinding(namespace, `b${i}`, { direction: 'input', destination: `${marker}-${i % 6}`, group: `g${i}` })));
  operator = await startOperator(namespace, { resyncPeriodMs: 3_600_000 });
  for (let i = 0; i < BINDINGS; i += 1) await waitForCondition(namespace, 'streambindings', `b${i}`, 'True');
  await waitForCondition(namespace, 'binders', 'rabbit', 'True');
  await waitFor('the queue to settle', () => operator!.bindingController.queue.length === 0);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(await reconciles()).toBe(BINDINGS);

  const before = { writes: seen.writes.length, requests: seen.requests, connections: seen.connections };
  operator.resync();
  await waitFor('the resync', async () => (await reconciles()) >= 2 * BINDINGS);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(seen.writes.slice(before.writes)).toEqual([]);
  expect(await reconciles()).toBe(2 * BINDINGS);

  // Sequential reads on a warm client: one keep-alive connection, not a handshake each.
  const { custom } = operator.clients;
  const connections = seen.connections;
  for (let i = 0; i < 10; i += 1) {
    await custom.getNamespacedCustomObject({ group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'streambindings', name: `b${i}` });
  }
  expect(seen.requests - before.requests).toBeGreaterThanOrEqual(10);
  expect(seen.connections - connections).toBeLessThanOrEqual(1);
});
