/**
 * Shared by the operator's integration tests: the real API server and brokers of the test
 * environment, a namespace per test, an operator running in-process on that namespace, and
 * read-backs from the brokers.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import type { Binder, StreamBinding } from '../../../operator/src/api/types.ts';
import { Operator, type OperatorOptions } from '../../../operator/src/operator.ts';
import { managementApi, testEnv, waitForCrds } from '../../support/env.ts';

export const CRD_DIR = fileURLToPath(new URL('../../../crds/', import.meta.url));

export const suffix = (): string => randomBytes(4).toString('hex');

export function kube(): { kubeConfig: KubeConfig; core: CoreV1Api; custom: CustomObjectsApi } {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(testEnv().kubeconfig);
  return { kubeConfig, core: kubeConfig.makeApiClient(CoreV1Api), custom: kubeConfig.makeApiClient(CustomObjectsApi) };
}

/** The CRDs as committed in crds/, applied the way a user would. */
export async function applyCrds(): Promise<void> {
  const env = testEnv();
  execFileSync(env.kubectl, ['--kubeconfig', env.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', CRD_DIR], { stdio: 'pipe' });
  await waitForCrds(['binders.bindery.io', 'streambindings.bindery.io']);
}

export function kubectl(...args: string[]): string {
  const env = testEnv();
  return execFileSync(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], { encoding: 'utf8', stdio: 'pipe' });
}

/** A `kubectl get` table as rows of named cells; each column starts where its header does (a cell may be empty). */
export function table(output: string): Array<Record<string, string>> {
  const [header, ...rows] = output.trimEnd().split('\n');
  const columns = [...header!.matchAll(/\S+/g)].map((m) => ({ name: m[0], start: m.index }));
  return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column.name, row.slice(column.start, columns[i + 1]?.start).trim()])));
}

export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${suffix()}`;
  await kube().core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await kube().core.deleteNamespace({ name }).catch(() => {});
}

/** AMQP and management ports of the test broker (both shifted by the environment's offset). */
export function rabbitAddress(): { host: string; port: number; managementPort: number } {
  const url = new URL(testEnv().rabbitUrl);
  return { host: url.hostname, port: Number(url.port || 5672), managementPort: Number(new URL(testEnv().rabbitManagementUrl).port || 15672) };
}

export async function createRabbitBinder(namespace: string, name: string, options: { default?: boolean; password?: string } = {}): Promise<void> {
  const { core, custom } = kube();
  const url = new URL(testEnv().rabbitUrl);
  const secret = `${name}-creds`;
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: secret },
      stringData: { username: decodeURIComponent(url.username || 'guest'), password: options.password ?? decodeURIComponent(url.password || 'guest') },
    },
  });
  await createObject(custom, namespace, 'binders', {
    apiVersion: 'bindery.io/v1alpha1',
    kind: 'Binder',
    metadata: { name, namespace },
    spec: { type: 'rabbit', default: options.default ?? false, rabbit: { ...rabbitAddress(), vhost: decodeURIComponent(url.pathname.slice(1)) || '/', credentialsSecret: { name: secret } } },
  });
}

export async function createKafkaBinder(namespace: string, name: string): Promise<void> {
  await createObject(kube().custom, namespace, 'binders', {
    apiVersion: 'bindery.io/v1alpha1',
    kind: 'Binder',
    metadata: { name, namespace },
    spec: { type: 'kafka', kafka: { brokers: testEnv().kafkaBrokers } },
  });
}

export async function createBinding(namespace: string, name: string, spec: StreamBinding['spec']): Promise<void> {
  await createObject(kube().custom, namespace, 'streambindings', {
    apiVersion: 'bindery.io/v1alpha1',
    kind: 'StreamBinding',
    metadata: { name, namespace },
    spec,
  });
}

async function createObject(custom: CustomObjectsApi, namespace: string, plural: string, body: object): Promise<void> {
  await custom.createNamespacedCustomObject({ group: 'bindery.io', version: 'v1alpha1', namespace, plural, body });
}

export async function patchSpec(namespace: string, plural: string, name: string, spec: object): Promise<void> {
  const { custom } = kube();
  const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  await custom.patchNamespacedCustomObject(
    { group: 'bindery.io', version: 'v1alpha1', namespace, plural, name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function getObject<T = StreamBinding | Binder>(namespace: string, plural: string, name: string): Promise<T | undefined> {
  try {
    return (await kube().custom.getNamespacedCustomObject({ group: 'bindery.io', version: 'v1alpha1', namespace, plural, name })) as T;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

export async function deleteObject(namespace: string, plural: string, name: string): Promise<void> {
  await kube().custom.deleteNamespacedCustomObject({ group: 'bindery.io', version: 'v1alpha1', namespace, plural, name });
}

export function condition(object: { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string; lastTransitionTime: string }> } } | undefined, type = 'Ready') {
  return object?.status?.conditions?.find((c) => c.type === type);
}

export { waitFor } from '../../support/wait.ts';
import { waitFor } from '../../support/wait.ts';

export async function waitForCondition(namespace: string, plural: string, name: string, status: 'True' | 'False', reason?: string, timeoutMs = 20_000) {
  return waitFor(`${plural}/${name} Ready=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const ready = condition(await getObject(namespace, plural, name));
    return ready && ready.status === status && (!reason || ready.reason === reason) ? ready : undefined;
  }, timeoutMs);
}

export const quietLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** An operator on one namespace, in this process, with short periods fit for tests. */
export async function startOperator(namespace: string, options: Partial<OperatorOptions> = {}): Promise<Operator> {
  const operator = new Operator({
    kubeConfig: kube().kubeConfig,
    logger: quietLogger,
    namespace,
    resyncPeriodMs: 1_000,
    retryBaseMs: 50,
    retryMaxMs: 1_000,
    pollMs: 300,
    ...options,
  });
  await operator.start();
  return operator;
}

export interface RabbitQueueInfo {
  name: string;
  durable: boolean;
  arguments: Record<string, unknown>;
  messages?: number;
}

export const rabbitQueue = (name: string) => managementApi<RabbitQueueInfo>(`/queues/%2F/${encodeURIComponent(name)}`);
export const rabbitExchange = (name: string) => managementApi<{ name: string; type: string; durable: boolean }>(`/exchanges/%2F/${encodeURIComponent(name)}`);
export const rabbitBindings = (queue: string) =>
  managementApi<Array<{ source: string; routing_key: string }>>(`/queues/%2F/${encodeURIComponent(queue)}/bindings`);

/** Runs `work` on a channel of a fresh connection to the test broker. */
export async function withRabbitChannel<T>(work: (channel: amqp.Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(testEnv().rabbitUrl);
  try {
    const channel = await connection.createChannel();
    return await work(channel);
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Removes the test's exchanges and queues (all names carry the test's suffix). */
export async function cleanupRabbit(marker: string): Promise<void> {
  const queues = (await managementApi<Array<{ name: string; vhost: string }>>('/queues')) ?? [];
  const exchanges = (await managementApi<Array<{ name: string; vhost: string }>>('/exchanges')) ?? [];
  await withRabbitChannel(async (channel) => {
    for (const q of queues.filter((q) => q.name.includes(marker))) await channel.deleteQueue(q.name);
    for (const e of exchanges.filter((e) => e.name.includes(marker))) await channel.deleteExchange(e.name);
  }).catch(() => {});
}

export function kafkaAdmin() {
  return new Kafka({ clientId: 'bindery-operator-test', brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
}

export async function topicPartitions(topic: string): Promise<number | undefined> {
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]?.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Deletes the namespace's StreamBindings while its operator still runs (their finalizers need
 * it), then stops the operator and deletes the namespace.
 */
export async function teardown(namespace: string, operator: Operator | undefined): Promise<void> {
  const { custom } = kube();
  const list = async () =>
    ((await custom.listNamespacedCustomObject({ group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'streambindings' })) as { items: StreamBinding[] }).items;
  await custom.deleteCollectionNamespacedCustomObject({ group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'streambindings' }).catch(() => {});
  await waitFor(`the StreamBindings of ${namespace} to go`, async () => (await list()).length === 0, 15_000).catch(async () => {
    // An operator that could not finish (broker gone): let the namespace go anyway.
    for (const binding of await list()) {
      await custom.patchNamespacedCustomObject(
        { group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'streambindings', name: binding.metadata.name, body: { metadata: { finalizers: null } } },
        (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'),
      ).catch(() => {});
    }
  });
  await operator?.stop();
  await deleteNamespace(namespace);
}
