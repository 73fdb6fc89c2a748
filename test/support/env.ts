/**
 * The test environment as tests see it. Addresses come from the vitest global setup
 * (test/env/global-setup.ts); the stop/start helpers drive the real broker processes for
 * recovery tests (never one given from outside: see test/env/lifecycle.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import type { TestEnvironment } from '../env/contract.ts';
import { kafka } from '../env/kafka.ts';
import { freezeComponent, killComponent, startComponent, stopComponent } from '../env/lifecycle.ts';
import { rabbit } from '../env/rabbit.ts';
import { waitFor } from './wait.ts';

export type { TestEnvironment } from '../env/contract.ts';

export function testEnv(): TestEnvironment {
  const env = inject('binderyEnv');
  if (env === undefined) throw new Error('the test environment is missing: run tests through vitest (globalSetup test/env/global-setup.ts)');
  return env;
}

/** `kill -9` of the RabbitMQ broker: what it had not written yet is lost, as in a crash. */
export const killRabbit = (): Promise<void> => killComponent(rabbit);

/** `kill -9` of the Kafka broker. */
export const killKafka = (): Promise<void> => killComponent(kafka);

/** Freezes the Kafka process (SIGSTOP) for `ms`, then lets it go on (SIGCONT). */
export const freezeKafka = (ms: number): Promise<void> => freezeComponent(kafka, ms);

/** Stops the RabbitMQ broker process: open connections drop. Durable data stays on disk. */
export const stopRabbit = (): Promise<void> => stopComponent(rabbit);

/** Starts the RabbitMQ broker again on the same data; resolves once AMQP and management answer. */
export const startRabbit = (): Promise<void> => startComponent(rabbit);

/** Stops the Kafka process: clients lose their connections. Topics and committed offsets stay on disk. */
export const stopKafka = (): Promise<void> => stopComponent(kafka);

/** Starts Kafka again on the same storage; resolves once it acknowledges a write. */
export const startKafka = (): Promise<void> => startComponent(kafka);

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

/**
 * Waits until each CustomResourceDefinition is Established. `kubectl wait` alone fails at once
 * when the API server has not written a new CRD's first conditions yet (".status.conditions
 * accessor error"), which a busy machine shows.
 */
export async function waitForCrds(names: string[], timeoutMs = 60_000): Promise<void> {
  const env = testEnv();
  const established = async (name: string): Promise<boolean> => {
    const jsonPath = '{.status.conditions[?(@.type=="Established")].status}';
    const { stdout } = await promisify(execFile)(env.kubectl, ['--kubeconfig', env.kubeconfig, 'get', 'crd', name, '-o', `jsonpath=${jsonPath}`]);
    return stdout.trim() === 'True';
  };
  await waitFor(`CRDs established: ${names.join(', ')}`, async () => (await Promise.all(names.map(established))).every(Boolean), timeoutMs);
}
