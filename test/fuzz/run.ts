/**
 * One fuzz run against one binder: a real `bindery runtime` process with the bindings of
 * target.ts, an SSE listener draining its input (and, on a broker, a second sidecar pushing
 * the same destination to an app), then `requests` generated cases, `concurrency` at a time.
 * Counts crashes, hangs, 5xx and off-contract answers, messages answered 202 that never
 * arrived, and the sidecar's RSS before and after.
 */
import { createServer, type Server } from 'node:http';
import { Kafka, logLevel } from 'kafkajs';
import type { BrokerEnvironment } from '../env/brokers.ts';
import { HTTP_TIMEOUTS } from '../../runtime/src/app.ts';
import { sidecarChildEnv } from '../../sidecar-config/env.ts';
import { ConfigFiles, inspectorUrl, processAnswers, runtimeProcess, type RuntimeProcess } from '../support/runtime-process.ts';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../integration/runtime/support.ts';
import { fuzzCase, STALLED_EVERY } from './cases.ts';
import type { Failure, Verdict } from './judge.ts';
import { restingRss, type Rss } from './memory.ts';
import { podMemory } from './pod-memory.ts';
import { BINDINGS, bindingsYaml, closeTarget, connectTarget, type BinderType, type FuzzTarget } from './target.ts';

export type FuzzEnvironment = BrokerEnvironment;

export interface FuzzOptions {
  /** Each seed's cases run in turn, on the same sidecar. */
  seeds: number[];
  requests: number;
  binder: BinderType;
  concurrency?: number;
  /** Run only these case indexes (a replay). */
  only?: number[];
  /** Progress lines (a long run says how far it is). */
  progress?: (line: string) => void;
  /**
   * Measure RSS before and after (waits for the input to drain twice; the sidecar runs with its
   * inspector on 127.0.0.1 to collect garbage before each reading); on by default.
   */
  measureRss?: boolean;
}

export interface FuzzFailure {
  seed: number;
  index: number;
  kind: string;
  failure: Failure;
  summary: string;
  detail: string;
}

export interface FuzzReport {
  binder: BinderType;
  seeds: number[];
  requests: number;
  byKind: Record<string, number>;
  counts: Record<Failure, number>;
  /** Messages answered 202 on the drained destination (each must arrive: else `lost`). */
  accepted: number;
  /** The first failures, with what a replay needs. */
  failures: FuzzFailure[];
  /** The sidecar's memory before the run (after its warm-up) and after it; absent when not measured. */
  rssBefore?: Rss;
  rssAfter?: Rss;
  /** The memory limit the sidecar ran under, or why it ran without one. */
  memoryLimit: string;
  seconds: number;
}

const HANG_MS = 20_000;
/** The push sidecar's consumers; on Kafka, the drained topic's partitions (see createDrainedTopic). */
const PUSH_CONCURRENCY = 8;

function binderYaml(binder: BinderType, env: FuzzEnvironment): string {
  if (binder === 'memory') return '{ type: memory }';
  if (binder === 'rabbit') return `{ type: rabbit, rabbit: { url: "${env.rabbitUrl}" } }`;
  return `{ type: kafka, kafka: { brokers: [${env.kafkaBrokers.join(', ')}] } }`;
}

async function startSidecar(files: ConfigFiles, yaml: string, nodeArgs: string[] = [], cgroupProcs?: string): Promise<{ run: RuntimeProcess; port: number; opsPort: number }> {
  const [port, opsPort] = [await freePort(), await freePort()];
  // With the environment the webhook gives a pod's sidecar: its memory is what is measured.
  const env = { ...sidecarChildEnv(process.env), BINDERY_LOG_LEVEL: 'warn' } as Record<string, string>;
  const run = runtimeProcess(['--config', await files.write(yaml), '--port', String(port), '--ops-port', String(opsPort), '--no-watch'], env, nodeArgs, cgroupProcs);
  await processAnswers(run, opsPort, 'readyz', 60_000);
  return { run, port, opsPort };
}

/** Reads the `pulled` input over SSE with auto acks for as long as the run lasts, so nothing piles up; keeps the ids it got. */
function drain(target: FuzzTarget): { seen: Set<string>; stop: () => Promise<void> } {
  const seen = new Set<string>();
  let stopping = false;
  const abort = new AbortController();
  const loop = (async () => {
    while (!stopping) {
      let pending = '';
      try {
        const response = await target.client.request({ method: 'GET', path: `/v1/listen/${BINDINGS.pulled}`, signal: abort.signal });
        for await (const chunk of response.body) {
          const events = (pending + String(chunk)).split('\n\n');
          pending = events.pop()!;
          for (const event of events) {
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (data !== undefined) seen.add((JSON.parse(data) as { id: string }).id);
          }
        }
      } catch {
        if (!stopping) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  })();
  return {
    seen,
    stop: async () => {
      stopping = true;
      abort.abort();
      await loop;
    },
  };
}

/** The app behind the push sidecar: takes most messages, refuses some, fails some. */
async function pushApp(): Promise<{ server: Server; port: number; received: () => number }> {
  let received = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received++;
      response.writeHead(received % 17 === 0 ? 500 : received % 23 === 0 ? 400 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, received: () => received };
}

export async function runFuzz(env: FuzzEnvironment, options: FuzzOptions): Promise<FuzzReport> {
  const { seeds, requests, binder } = options;
  const measure = options.measureRss ?? true;
  const progress = options.progress ?? (() => undefined);
  const concurrency = options.concurrency ?? 16;
  const prefix = `fuzz-${seeds[0]}-${binder}-${process.pid}`;
  const files = new ConfigFiles();
  const started = Date.now();
  if (binder === 'kafka') await createDrainedTopic(env, prefix);
  // The sidecar under test runs with the pod's memory limit where a cgroup can hold it.
  const limit = podMemory(prefix);
  const api = await startSidecar(files, `binders: { b: ${binderYaml(binder, env)} }\n${bindingsYaml(prefix)}`, measure ? ['--inspect=127.0.0.1:0'] : [],
    'procsFile' in limit ? limit.procsFile : undefined).catch((error: unknown) => {
    if ('remove' in limit) limit.remove();
    throw error;
  });
  const cleanups: Array<() => Promise<unknown>> = [() => files.removeAll(), () => cleanUp(env, binder, prefix), async () => 'remove' in limit && limit.remove()];
  // Read now: the output kept is the last of it, and a long run's logs push this line out.
  const inspector = measure ? inspectorUrl(api.run) : '';
  let crashed: string | undefined;
  const watched = [api.run];
  try {
    let app: Awaited<ReturnType<typeof pushApp>> | undefined;
    if (binder !== 'memory') {
      app = await pushApp();
      const pusher = await startSidecar(files, `binders: { b: ${binderYaml(binder, env)} }
bindings:
  pushed: { direction: input, destination: ${prefix}, group: ${prefix}-pushed, consumer: { concurrency: ${PUSH_CONCURRENCY}, maxAttempts: 2, backOffInitialInterval: 10, backOffMaxInterval: 50, pushTimeout: 5000 } }
app: { port: ${app.port} }`);
      watched.push(pusher.run);
      cleanups.unshift(async () => {
        pusher.run.child.kill('SIGTERM');
        await pusher.run.exit;
        await new Promise((resolve) => app!.server.close(resolve));
      });
    }
    // A sidecar killed for the memory limit exits on SIGKILL, with no code.
    for (const run of watched) void run.exit.then((code) => (crashed ??= `a sidecar exited (${code ?? run.child.signalCode}): ${run.output().slice(-2000)}`));
    const target = connectTarget(binder, `http://127.0.0.1:${api.port}`, `http://127.0.0.1:${api.opsPort}`, HANG_MS, HTTP_TIMEOUTS.apiRequestTimeoutMs, prefix);
    cleanups.unshift(() => closeTarget(target));
    await waitFor('the inputs to consume', async () => {
      const { bindings } = JSON.parse(await (await fetch(`${target.api}/v1/bindings`)).text()) as { bindings: Array<{ direction: string; consuming?: boolean }> };
      return bindings.filter((b) => b.direction === 'input').every((b) => b.consuming === true);
    }, 60_000);
    const drained = drain(target);
    cleanups.unshift(() => drained.stop());

    const cases = seeds.flatMap((seed) => (options.only ?? Array.from({ length: requests }, (_, i) => i)).map((index) => ({ seed, index })));
    const warmup = options.only || !measure ? 0 : Math.min(2_000, Math.floor(cases.length / 10));
    const counts: Record<Failure, number> = { crash: 0, hang: 0, '5xx': 0, 'off-contract': 0, lost: 0 };
    const byKind: Record<string, number> = {};
    const failures: FuzzFailure[] = [];
    const aside: Promise<void>[] = [];
    const runCase = async ({ seed, index }: { seed: number; index: number }): Promise<void> => {
      const fuzz = fuzzCase(seed, index, binder);
      const verdict = await fuzz.run(target).catch((error: unknown): Verdict => ({ ok: false, failure: 'off-contract', detail: `the fuzzer failed: ${(error as Error).message}` }));
      byKind[fuzz.kind] = (byKind[fuzz.kind] ?? 0) + 1;
      if (verdict.ok) return;
      counts[verdict.failure]++;
      if (failures.length < 20) failures.push({ seed, index, kind: fuzz.kind, failure: verdict.failure, summary: fuzz.summary, detail: verdict.detail });
    };
    const runRange = async (from: number, to: number): Promise<void> => {
      let next = from;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (next < to && crashed === undefined) {
          const item = cases[next++]!;
          // Stalled bodies wait out the request timeout: they run aside, not in a worker's turn.
          if (item.index > 0 && item.index % STALLED_EVERY === 0) aside.push(runCase(item));
          else await runCase(item);
          if (++done % 10_000 === 0) progress(`${binder}: ${from + done} of ${cases.length}`);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    };

    await runRange(0, warmup);
    if (measure) await settle(drained, target);
    const rssBefore = measure ? await restingRss(api.run.child.pid!, inspector) : undefined;
    await runRange(warmup, cases.length);
    await Promise.all(aside);
    // A sidecar that died has nothing left to drain or measure: the crash is what the run reports
    // (on a broker, what it had accepted is still there for the next one).
    if (crashed === undefined) await settle(drained, target);
    const rssAfter = measure && crashed === undefined ? await restingRss(api.run.child.pid!, inspector) : undefined;

    const lost = crashed === undefined ? [...target.drained.accepted].filter((id) => !drained.seen.has(id)) : [];
    counts.lost = lost.length;
    if (lost.length > 0) {
      failures.unshift({ seed: seeds[0]!, index: -1, kind: 'delivery', failure: 'lost', summary: `${lost.length} of ${target.drained.accepted.size} messages answered 202`, detail: `ids never delivered: ${lost.slice(0, 10).join(', ')}` });
    }
    progress(`${binder}: ${target.drained.accepted.size} messages answered 202 on ${prefix}, ${drained.seen.size} delivered, ${lost.length} lost`);

    // Still serving after all of it.
    const health = await fetch(`${target.ops}/healthz`).then((r) => r.status, () => 0);
    if (health !== 200 && crashed === undefined) crashed = `the sidecar no longer answers /healthz (${health})`;
    if (crashed !== undefined) {
      counts.crash++;
      failures.unshift({ seed: seeds[0]!, index: -1, kind: 'process', failure: 'crash', summary: 'the sidecar process', detail: crashed });
    }
    if (app) progress(`${binder}: the push sidecar delivered ${app.received()} pushes`);
    return { binder, seeds, requests: cases.length, byKind, counts, accepted: target.drained.accepted.size, failures, ...(rssBefore && rssAfter && { rssBefore, rssAfter }),
      memoryLimit: 'description' in limit ? `${limit.description}, ${peakText(limit.peak())}` : `none (${limit.unavailable})`, seconds: (Date.now() - started) / 1000 };
  } finally {
    api.run.child.kill('SIGTERM');
    await api.run.exit;
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}

/** The cgroup's peak, where the kernel keeps one (v2's memory.peak came with Linux 5.19). */
function peakText(bytes: number): string {
  return Number.isNaN(bytes) ? 'its peak not kept by this kernel' : `peak ${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/**
 * Waits until the drain listener has every message answered 202 so far, or got nothing new
 * for 5 s (what is missing then is lost), then 3 s more for the heap to settle.
 */
async function settle(drained: { seen: Set<string> }, target: FuzzTarget): Promise<void> {
  const missing = (): number => [...target.drained.accepted].filter((id) => !drained.seen.has(id)).length;
  let last = -1;
  let quietSince = Date.now();
  await waitFor('the input drained', async () => {
    if (missing() === 0) return true;
    if (drained.seen.size !== last) {
      last = drained.seen.size;
      quietSince = Date.now();
    }
    return Date.now() - quietSince > 5_000;
  }, { timeoutMs: 120_000, everyMs: 500 });
  await Promise.all([BINDINGS.scratchIn, BINDINGS.manual].map((binding) => emptyGroup(target, binding)));
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  await fetch(`${target.ops}/healthz`).catch(() => undefined);
}

/**
 * Reads a group the run does not drain (cases stop and pause it, or hold its messages) until
 * nothing comes for 3 s. On the memory binder those messages are the sidecar's own memory:
 * kept, as a durable group's must be, they would count as growth that is not a leak.
 */
async function emptyGroup(target: FuzzTarget, binding: string): Promise<void> {
  await target.client.request({ method: 'POST', path: `/v1/bindings/${binding}/state`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'started' }) }).then((r) => r.body.dump());
  const abort = new AbortController();
  let quiet = setTimeout(() => abort.abort(), 3_000);
  try {
    const response = await target.client.request({ method: 'GET', path: `/v1/listen/${binding}`, signal: abort.signal });
    for await (const chunk of response.body) {
      if (!String(chunk).includes('data: ')) continue;
      clearTimeout(quiet);
      quiet = setTimeout(() => abort.abort(), 3_000);
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(quiet);
  }
}

/**
 * The drained topic, made up front with as many partitions as any binding grows it to (`keyed`
 * 3, the push sidecar's concurrency 8): partitions added after `pulled` joined reach that
 * consumer only at its next read of the topic's metadata (5 s) and a rebalance of its group,
 * a pause in the middle of the run.
 */
export async function createDrainedTopic(env: FuzzEnvironment, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'bindery-fuzz', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PUSH_CONCURRENCY }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Removes what the run declared on its broker. */
export async function cleanUp(env: FuzzEnvironment, binder: BinderType, prefix: string): Promise<void> {
  if (binder === 'rabbit') {
    const { url, user, password } = env.rabbitManagement;
    const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    for (const kind of ['queues', 'exchanges']) {
      const objects = (await (await fetch(`${url}/api/${kind}`, { headers: { authorization: auth } })).json()) as Array<{ name: string; vhost: string }>;
      for (const object of objects.filter((o) => o.name.startsWith(prefix))) {
        await fetch(`${url}/api/${kind}/${encodeURIComponent(object.vhost)}/${encodeURIComponent(object.name)}`, { method: 'DELETE', headers: { authorization: auth } });
      }
    }
  }
  if (binder === 'kafka') {
    const admin = new Kafka({ clientId: 'bindery-fuzz', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix) || t.startsWith(`error.${prefix}`));
      if (topics.length > 0) await admin.deleteTopics({ topics });
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
      if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
  }
}
