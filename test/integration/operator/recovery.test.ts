/**
 * A broker outage as users see it: the Binder and its StreamBindings go Ready=False with a
 * reason while RabbitMQ is stopped, and come back to Ready by themselves once it is back.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Operator } from '../../../operator/src/operator.ts';
import { startRabbit, stopRabbit } from '../../support/env.ts';
import {
  applyCrds, cleanupRabbit, createBinding, createNamespace, createRabbitBinder, rabbitQueue, startOperator, suffix, teardown,
  waitFor, waitForCondition,
} from './support.ts';

const marker = `rec${suffix()}`;
let namespace: string;
let operator: Operator;

beforeAll(async () => {
  await applyCrds();
  namespace = await createNamespace('recovery');
  operator = await startOperator(namespace);
});

afterAll(async () => {
  await startRabbit();
  await teardown(namespace, operator);
  await cleanupRabbit(marker);
});

it('goes Ready=False with a reason while RabbitMQ is down, and Ready again by itself', async () => {
  const destination = `outage-${marker}`;
  await createRabbitBinder(namespace, 'rabbit', { default: true });
  await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g' });
  await createBinding(namespace, 'out', { direction: 'output', destination });
  await waitForCondition(namespace, 'streambindings', 'in', 'True');
  await waitForCondition(namespace, 'streambindings', 'out', 'True');

  await stopRabbit();
  try {
    const binder = await waitForCondition(namespace, 'binders', 'rabbit', 'False', 'Unreachable', 90_000);
    expect(binder.message).toContain('unreachable');
    for (const name of ['in', 'out']) {
      const ready = await waitForCondition(namespace, 'streambindings', name, 'False', 'BinderNotReady', 90_000);
      expect(ready.message).toMatch(/unreachable|connection lost/i);
    }
  } finally {
    await startRabbit();
  }

  await waitForCondition(namespace, 'binders', 'rabbit', 'True', 'Connected', 30_000);
  await waitForCondition(namespace, 'streambindings', 'in', 'True', 'Provisioned', 30_000);
  await waitForCondition(namespace, 'streambindings', 'out', 'True', 'Provisioned', 30_000);
  await waitFor('the durable queue on the broker', () => rabbitQueue(`${destination}.g`));
}, 240_000);
