/**
 * Two `bindery operator` processes on one namespace: one holds the Lease and reconciles;
 * when it dies (SIGKILL, no release), the other takes over and reconciles a new binding.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';
import {
  applyCrds, cleanupRabbit, createBinding, createNamespace, createRabbitBinder, deleteNamespace, kube, suffix, teardown, waitFor,
  waitForCondition,
} from './support.ts';

const BINDERY = fileURLToPath(new URL('../../../bin/bindery', import.meta.url));
const marker = `lead${suffix()}`;
let namespace: string;
const children: Array<{ process: ChildProcess; output: string[] }> = [];

function startOperatorProcess(): { process: ChildProcess; output: string[] } {
  const child = spawn(process.execPath, [
    BINDERY, 'operator', '--kubeconfig', testEnv().kubeconfig, '--namespace', namespace,
    '--leader-election-namespace', namespace, '--health-port', '0', '--metrics-port', '0', '--resync-period', '2s',
    '--max-retry-delay', '1s',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  const entry = { process: child, output };
  children.push(entry);
  return entry;
}

const identityOf = (output: string[]): string | undefined =>
  output.map((line) => { try { return JSON.parse(line) as { msg?: string; identity?: string }; } catch { return {}; } })
    .find((entry) => entry.msg === 'became leader' || entry.msg === 'operator started')?.identity;

const leaseHolder = async (): Promise<string | undefined> => {
  const coordination = kube().kubeConfig.makeApiClient(CoordinationV1Api);
  const lease = await coordination.readNamespacedLease({ namespace, name: 'bindery-operator' }).catch(() => undefined);
  return lease?.spec?.holderIdentity ?? undefined;
};

beforeAll(async () => {
  await applyCrds();
  namespace = await createNamespace('leader');
  await createRabbitBinder(namespace, 'rabbit', { default: true });
});

afterAll(async () => {
  for (const child of children) child.process.kill('SIGTERM');
  await deleteNamespace(namespace);
  await cleanupRabbit(marker);
});

it('the standby operator takes over when the leader dies', async () => {
  const first = startOperatorProcess();
  const firstIdentity = await waitFor('the first operator to lead', async () => {
    const identity = identityOf(first.output);
    return identity && (await leaseHolder()) === identity ? identity : undefined;
  }, 30_000);
  const second = startOperatorProcess();
  const secondIdentity = await waitFor('the second operator to start', () => identityOf(second.output), 30_000);

  await createBinding(namespace, 'before', { direction: 'output', destination: `before-${marker}` });
  await waitForCondition(namespace, 'streambindings', 'before', 'True');
  expect(await leaseHolder()).toBe(firstIdentity);
  expect(second.output.some((line) => line.includes('became leader'))).toBe(false);

  first.process.kill('SIGKILL');
  const killedAt = Date.now();
  await createBinding(namespace, 'after', { direction: 'output', destination: `after-${marker}` });
  await waitForCondition(namespace, 'streambindings', 'after', 'True', 'Provisioned', 30_000);
  const takeoverMs = Date.now() - killedAt;
  expect(await leaseHolder()).toBe(secondIdentity);
  // Lease 12 s, retry 2 s: at most 14 s, plus one reconcile.
  expect(takeoverMs).toBeLessThan(15_000);
  console.log(`operator takeover after the leader was killed: ${(takeoverMs / 1000).toFixed(1)} s`);

  // A clean stop gives the Lease up at once, so a rolling update does not wait for it to expire.
  await teardown(namespace, undefined);
  second.process.kill('SIGTERM');
  await waitFor('the Lease to be released', async () => (await leaseHolder()) === undefined, 10_000);
  await waitFor('the operator to exit', () => second.process.exitCode === 0, 10_000);
}, 90_000);
