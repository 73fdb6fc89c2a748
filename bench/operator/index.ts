/**
 * `npm run bench -- operator`: 1 000 StreamBindings applied to the real API server of the test
 * environment (`npm run env -- up`), reconciled by an in-process operator onto RabbitMQ.
 * Prints apply->Ready p50/p99, the total time, and the broker calls and status writes of one
 * unchanged resync. Goals (issue 14): p99 <= 2 s, total <= 60 s, one reconcile per change; an
 * unchanged resync in <= 1 s with 0 broker writes and 0 status writes.
 *
 * BENCH_BINDINGS (default 1000), BENCH_APPLY_CONCURRENCY (20), BENCH_WORKERS (the operator's default);
 * BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each phase there (operator-apply.cpuprofile,
 * operator-resync.cpuprofile): the operator runs in this process, so a whole-process profile
 * would mix both phases with the bench's own work.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import amqp from 'amqplib';
import pino from 'pino';
import type { StreamBinding, StreamBindingSpec } from '../../operator/src/api/types.ts';
import { DEFAULT_WORKERS } from '../../operator/src/controller/controller.ts';
import { Operator } from '../../operator/src/operator.ts';
import { testEnvironment } from '../../test/env/addresses.ts';
import { kubernetes } from '../../test/env/kubernetes.ts';
import { rabbit } from '../../test/env/rabbit.ts';

const GROUP = { group: 'bindery.io', version: 'v1alpha1' };
const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));

const count = Number(process.env.BENCH_BINDINGS ?? 1000);
const applyConcurrency = Number(process.env.BENCH_APPLY_CONCURRENCY ?? 20);
const workers = process.env.BENCH_WORKERS === undefined ? DEFAULT_WORKERS : Number(process.env.BENCH_WORKERS);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Per destination: one output and three group inputs, as a small application family would have. */
function specs(marker: string): Array<{ name: string; spec: StreamBindingSpec }> {
  return Array.from({ length: count }, (_, i) => {
    const destination = `bench-${marker}-${Math.floor(i / 4)}`;
    const role = i % 4;
    return role === 0
      ? { name: `b${i}-out`, spec: { direction: 'output', destination } }
      : { name: `b${i}-in`, spec: { direction: 'input', destination, group: `g${role}` } };
  });
}

async function waitUntil(what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function reconcileCount(operator: Operator): Promise<number> {
  return Object.values(await reconcilesByResult(operator)).reduce((sum, n) => sum + n, 0);
}

/** StreamBinding reconciles so far by outcome (done, wait, error, terminal). */
async function reconcilesByResult(operator: Operator): Promise<Record<string, number>> {
  const metric = await operator.metrics.reconciles.get();
  const byResult: Record<string, number> = {};
  for (const v of metric.values.filter((value) => value.labels.controller === 'streambinding')) {
    byResult[String(v.labels.result)] = (byResult[String(v.labels.result)] ?? 0) + v.value;
  }
  return byResult;
}

/**
 * API server requests and new connections made by this process (the operator runs in it), from
 * undici's diagnostics channels: a status PUT the API server answers unchanged bumps no
 * resourceVersion, yet is a request, and each new connection is a TLS handshake.
 */
function apiRequests(): { writes: number; all: number; connections: number } {
  const counts = { writes: 0, all: 0, connections: 0 };
  diagnostics.subscribe('undici:request:create', (message) => {
    const { method } = (message as { request: { method: string } }).request;
    counts.all += 1;
    if (method !== 'GET') counts.writes += 1;
  });
  diagnostics.subscribe('undici:client:connected', () => {
    counts.connections += 1;
  });
  return counts;
}

/** Profiles the phases between start and stop when BENCH_CPU_PROF names a directory. */
async function phaseProfiler(): Promise<{ start(): Promise<void>; stop(phase: string): Promise<void> }> {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return { start: async () => {}, stop: async () => {} };
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  return {
    start: () => session.post('Profiler.start'),
    stop: async (phase) => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(dir, `operator-${phase}.cpuprofile`), JSON.stringify(profile));
    },
  };
}

export async function main(): Promise<number> {
  for (const component of [kubernetes, rabbit]) {
    if (!(await component.isUp())) {
      console.error(`bench operator: ${component.name} of the test environment is not up; start it with \`npm run env -- up\``);
      return 2;
    }
  }
  const env = await testEnvironment();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env.kubeconfig);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const marker = randomBytes(3).toString('hex');
  const namespace = `bench-operator-${marker}`;
  const rabbitUrl = new URL(env.rabbitUrl);

  execFileSync(env.kubectl, ['--kubeconfig', env.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', CRDS], { stdio: 'pipe' });
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'rabbit' }, stringData: { username: decodeURIComponent(rabbitUrl.username), password: decodeURIComponent(rabbitUrl.password) } } });
  await custom.createNamespacedCustomObject({
    ...GROUP, namespace, plural: 'binders',
    body: { apiVersion: 'bindery.io/v1alpha1', kind: 'Binder', metadata: { name: 'rabbit' }, spec: { type: 'rabbit', default: true, rabbit: { host: rabbitUrl.hostname, port: Number(rabbitUrl.port || 5672), managementPort: Number(new URL(env.rabbitManagementUrl).port || 15672), credentialsSecret: { name: 'rabbit' } } } },
  });

  // Resync by hand below, so the measured one is the only one.
  const api = apiRequests();
  const operator = new Operator({ kubeConfig, logger: pino({ level: 'silent' }), namespace, resyncPeriodMs: 3_600_000, workers });
  await operator.start();

  const appliedAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const watch = makeInformer<KubernetesObject>(kubeConfig, `/apis/bindery.io/v1alpha1/namespaces/${namespace}/streambindings`, async () =>
    (await custom.listNamespacedCustomObject({ ...GROUP, namespace, plural: 'streambindings' })) as never);
  const seen = (object: KubernetesObject): void => {
    const binding = object as unknown as StreamBinding;
    const ready = binding.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
    if (ready && !readyAt.has(binding.metadata.name)) readyAt.set(binding.metadata.name, Date.now());
  };
  watch.on('add', seen);
  watch.on('update', seen);
  await watch.start();

  try {
    console.log(`bench operator: ${count} StreamBindings on ${env.kubernetesVersion} and RabbitMQ at ${rabbitUrl.host}, ${applyConcurrency} applies in flight, ${workers} reconcile workers`);
    const items = specs(marker);
    const profiler = await phaseProfiler();
    await profiler.start();
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: applyConcurrency }, async () => {
      while (next < items.length) {
        const { name, spec } = items[next++]!;
        await custom.createNamespacedCustomObject({ ...GROUP, namespace, plural: 'streambindings', body: { apiVersion: 'bindery.io/v1alpha1', kind: 'StreamBinding', metadata: { name }, spec } });
        appliedAt.set(name, Date.now());
      }
    }));
    const appliedMs = Date.now() - started;
    await waitUntil('every StreamBinding Ready', () => readyAt.size >= count, 180_000);
    const totalMs = Math.max(...readyAt.values()) - started;
    await profiler.stop('apply');
    const latencies = items.map(({ name }) => Math.max(0, readyAt.get(name)! - appliedAt.get(name)!)).sort((a, b) => a - b);

    // One unchanged resync: every binding reconciled again, nothing changed.
    await waitUntil('the queue to settle', () => operator.bindingController.queue.length === 0, 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const applyDuration = (await operator.metrics.duration.get()).values.filter((v) => v.labels.controller === 'streambinding');
    const applySum = applyDuration.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    // A status write bumps the resourceVersion; the lag read on each resync must not cause one.
    const versions = async () => new Map(((await custom.listNamespacedCustomObject({ ...GROUP, namespace, plural: 'streambindings' })) as { items: StreamBinding[] }).items
      .map((binding) => [binding.metadata.name, binding.metadata.resourceVersion]));
    const versionsBefore = await versions();
    const before = { writes: operator.pool.calls.writes, reads: operator.pool.calls.reads, reconciles: await reconcileCount(operator), api: { ...api } };
    const applyOutcomes = Object.entries(await reconcilesByResult(operator)).map(([result, n]) => `${n} ${result}`).join(', ');
    await profiler.start();
    const resyncCpu = process.cpuUsage();
    const resyncStarted = Date.now();
    operator.resync();
    await waitUntil('the resync to finish', async () => (await reconcileCount(operator)) >= before.reconciles + count, 120_000);
    const resyncMs = Date.now() - resyncStarted;
    const resyncCpuMs = (({ user, system }) => (user + system) / 1000)(process.cpuUsage(resyncCpu));
    await profiler.stop('resync');
    const writes = operator.pool.calls.writes - before.writes;
    const reads = operator.pool.calls.reads - before.reads;
    const apiDuring = { writes: api.writes - before.api.writes, all: api.all - before.api.all, connections: api.connections - before.api.connections };
    const statusWrites = [...(await versions())].filter(([name, version]) => versionsBefore.get(name) !== version).length;

    const resyncReconciles = (await reconcileCount(operator)) - before.reconciles;
    const verdict = (ok: boolean): string => (ok ? 'MEETS' : 'MISSES');
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const cpu = process.cpuUsage();
    console.log(`Node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)} at the end of the run`);
    console.log(`applied ${count} in ${(appliedMs / 1000).toFixed(1)} s; ${before.reconciles} reconciles (${applyOutcomes}) for ${count} new bindings ` +
      `(goal one per change: ${verdict(before.reconciles <= count)}), ${((applySum / Math.max(1, before.reconciles)) * 1000).toFixed(0)} ms each on average`);
    console.log(`apply->Ready p50 ${p50} ms, p99 ${p99} ms (goal p99 <= 2000 ms: ${verdict(p99 <= 2000)})`);
    console.log(`total, first apply to last Ready: ${(totalMs / 1000).toFixed(1)} s (goal <= 60 s: ${verdict(totalMs <= 60_000)})`);
    console.log(`operator process CPU: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s over ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`unchanged resync of ${count} bindings (${resyncReconciles} reconciles) in ${(resyncMs / 1000).toFixed(1)} s, ${(resyncCpuMs / 1000).toFixed(1)} s of operator CPU (goal <= 1 s: ${verdict(resyncMs <= 1000)}): ` +
      `${writes} broker writes (goal 0: ${verdict(writes === 0)}), ${reads} broker reads (bulk lists of the vhost, passive reads of what they lack, and consumer lag), ` +
      `${statusWrites} status writes (goal 0: ${verdict(statusWrites === 0)}); ` +
      `${apiDuring.writes} API server write requests (goal 0: ${verdict(apiDuring.writes === 0)}), ${apiDuring.all} API requests in all, ${apiDuring.connections} new API connections`);
    console.log(`API requests during the applies: ${before.api.all} on ${before.api.connections} new connections (the bench's own creates included)`);
    return 0;
  } finally {
    await watch.stop();
    await custom.deleteCollectionNamespacedCustomObject({ ...GROUP, namespace, plural: 'streambindings' }).catch(() => {});
    await waitUntil('StreamBindings to go', async () =>
      ((await custom.listNamespacedCustomObject({ ...GROUP, namespace, plural: 'streambindings', limit: 1 })) as { items: unknown[] }).items.length === 0, 120_000).catch(() => {});
    await operator.stop();
    await core.deleteNamespace({ name: namespace }).catch(() => {});
    const connection = await amqp.connect(env.rabbitUrl);
    const channel = await connection.createChannel();
    for (let d = 0; d < Math.ceil(count / 4); d += 1) {
      const destination = `bench-${marker}-${d}`;
      for (const g of ['g1', 'g2', 'g3']) {
        await channel.deleteQueue(`${destination}.${g}`);
        await channel.deleteQueue(`${destination}.${g}.dlq`);
      }
      await channel.deleteExchange(destination);
    }
    await connection.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
