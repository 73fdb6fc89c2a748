/**
 * The test environment as tests see it. Addresses come from the vitest global setup
 * (test/env/global-setup.ts); the stop/start helpers drive the real broker processes for
 * recovery tests.
 */
import { inject } from 'vitest';
import type { TestEnvironment } from '../env/contract.ts';
import { kafka } from '../env/kafka.ts';
import { withLock } from '../env/process.ts';
import { rabbit } from '../env/rabbit.ts';

export type { TestEnvironment } from '../env/contract.ts';

export function testEnv(): TestEnvironment {
  const env = inject('binderyEnv');
  if (env === undefined) throw new Error('the test environment is missing: run tests through vitest (globalSetup test/env/global-setup.ts)');
  return env;
}

function ensureOwn(component: 'rabbit' | 'kafka'): void {
  if (inject('binderyExternal')?.[component]) {
    const variable = component === 'rabbit' ? 'RABBIT_URL' : 'KAFKA_BROKERS';
    throw new Error(`${component} is given through ${variable}: this environment cannot stop or start it`);
  }
}

const quiet = (): void => {};

/** Stops the RabbitMQ broker process: open connections drop. Durable data stays on disk. */
export async function stopRabbit(): Promise<void> {
  ensureOwn('rabbit');
  await withLock('rabbit', () => rabbit.stop());
}

/** Starts the RabbitMQ broker again on the same data; resolves once AMQP and management answer. */
export async function startRabbit(): Promise<void> {
  ensureOwn('rabbit');
  await withLock('rabbit', async () => {
    if (!(await rabbit.isUp())) await rabbit.start(quiet);
  });
}

/**
 * GET on RabbitMQ's management API, e.g. `managementApi('/queues/%2F/orders.audit')` (the
 * `/api` prefix is added when missing). Parsed JSON; undefined on 404.
 */
export async function managementApi<T = unknown>(path: string): Promise<T | undefined> {
  const env = testEnv();
  const apiPath = path.startsWith('/api/') ? path : `/api${path.startsWith('/') ? '' : '/'}${path}`;
  const auth = Buffer.from(`${env.rabbitManagementUser}:${env.rabbitManagementPassword}`).toString('base64');
  const response = await fetch(`${env.rabbitManagementUrl}${apiPath}`, { headers: { authorization: `Basic ${auth}` } });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`management API GET ${apiPath}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Stops the Kafka process: clients lose their connections. Topics and committed offsets stay on disk. */
export async function stopKafka(): Promise<void> {
  ensureOwn('kafka');
  await withLock('kafka', () => kafka.stop());
}

/** Starts Kafka again on the same storage; resolves once a metadata request answers. */
export async function startKafka(): Promise<void> {
  ensureOwn('kafka');
  await withLock('kafka', async () => {
    if (!(await kafka.isUp())) await kafka.start(quiet);
  });
}
