/**
 * The broker-neutral half of the bench: the same load driven through a broker's own client
 * and through the sidecar (`bindery runtime` as a child process, over real HTTP on
 * loopback), measured the same way, printed as ratios beside the goals of issue 4.
 * A broker plugs in with a `BrokerBench` (bench/rabbit, bench/kafka) registered in run.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createBinder } from '../runtime/src/binders/index.ts';
import type { Producer } from '../runtime/src/binders/binder.ts';
import { Pool } from 'undici';
import { defaultConsumer, defaultProducer, DEFAULT_MAX_MESSAGE_BYTES, unsettledLimit, type BinderConfig } from '../runtime/src/config/model.ts';
import { percentiles, progress, repeat, timed, timeInTurn, type Percentiles } from './measure.ts';
import { Arrivals, pushReceiver } from './push-app.ts';
import { startBareProxy, type BareProxy } from './bare-proxy.ts';
import { processCpuSeconds, processMemoryMb, sidecarDescription, startSidecar } from './sidecar-process.ts';

export { startSidecar, type SidecarProcess } from './sidecar-process.ts';

/** A broker's own client, doing what the sidecar does for one output binding. */
export interface DirectProducer {
  /** Resolves once the broker confirmed (publisher confirm, acks=all). */
  send(payload: Buffer): Promise<void>;
  /** The client's best batched way: all of `payloads` in one call, resolved once all are confirmed. */
  sendBatch(payloads: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

/** A consumer made ready (a Kafka group joined, a RabbitMQ channel open) before its queue fills, started when timed. */
export interface DirectConsumer {
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface BrokerBench {
  /** Shown in the report, e.g. "RabbitMQ 3.12.1 at amqp://127.0.0.1:5672" (no credentials). */
  readonly description: string;
  /** The `binders:` entry the sidecar's bindery.yaml gets for this broker. */
  readonly binderConfig: Record<string, unknown>;
  /** A producer on `destination` that also provisions `requiredGroups`, as the sidecar does. */
  producer(destination: string, requiredGroups: string[]): Promise<DirectProducer>;
  /**
   * The broker's own consumer on `group`, `concurrency` unacked at once, acking each message
   * once `onMessage` returned (or the promise it returned resolved), as push acks once the app answered.
   */
  consume(destination: string, group: string, concurrency: number, onMessage: () => void | Promise<void>): Promise<DirectConsumer>;
  /**
   * The client's best batched consume: messages taken `batchSize` at a time, acked (committed) per
   * batch, with at most `unacked` unacked at once (the sidecar's own limit for the same binding).
   */
  consumeBatched(destination: string, group: string, batchSize: number, unacked: number, onMessages: (count: number) => void): Promise<DirectConsumer>;
  /** Deletes what the run left on the broker. */
  cleanup(destinations: string[], groups: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface BenchSizes {
  warmup: number;
  latencyMessages: number;
  throughputMessages: number;
  inFlight: number;
  pushMessages: number;
  payloadBytes: number;
  /** Messages per request of the bulk rows (an ndjson body to the sidecar, one batch call of the direct client). */
  batchSize: number;
  batchesInFlight: number;
}

export const DEFAULT_SIZES: BenchSizes = {
  warmup: 200,
  latencyMessages: 2000,
  throughputMessages: 5000,
  inFlight: 64,
  /** Enough that a consumer's start (a fetch's wait on Kafka) is a small part of each drain. */
  pushMessages: 10_000,
  payloadBytes: 256,
  batchSize: 64,
  batchesInFlight: 4,
};

/** Throughput runs alternate direct / binder / sidecar this many times; the best of each is kept. */
const THROUGHPUT_ROUNDS = 2;

/** The goals of issue 14, printed beside the figures. */
export const GOALS = {
  overheadP50Ms: 0.3,
  overheadP99Ms: 1,
  throughputRatio: 0.6,
  /** Bulk send against the direct client's own batched sends. */
  batchedRatio: 0.9,
  pushRatio: 0.8,
  vcpuPer1000: 0.1,
  rssPeakMb: 50,
  startupMs: 500,
};

export interface BenchResult {
  /** `proxy`: the bare HTTP proxy (bare-proxy.ts), the floor of any HTTP sidecar. */
  latency: { direct: Percentiles; binder: Percentiles; proxy: Percentiles; sidecar: Percentiles };
  throughput: { direct: number; binder: number; proxy: number; sidecar: number };
  /** msg/s with `batchSize` messages per call or request. */
  batched: { direct: number; sidecar: number };
  /** msg/s one at a time: the direct consumer, the direct consumer POSTing each message to the app itself, the sidecar's push. */
  push: { raw: number; forwarded: number; sidecar: number };
  /** msg/s with `batchSize` messages per push (consumer.batchSize) and per batch of the direct consumer. */
  pushBatched: { direct: number; sidecar: number };
  /** CPU seconds per 1 000 messages = vCPU used per 1 000 msg/s. */
  cpu: { sidecarPer1000: number; directPer1000: number; proxyPer1000: number; sidecarPushPer1000: number; sidecarBatchPushPer1000: number };
  loadAverage: number;
  startup: { ms: number; cpuMs: number };
  rss: { sidecarMb: number; sidecarPeakMb: number; benchMb: number };
}



/** `brokerName` names `broker` in brokers.ts, for the bare proxy's process to build its own client. */
export async function runBench(broker: BrokerBench, brokerName: string, sizes: BenchSizes = DEFAULT_SIZES): Promise<BenchResult> {
  const suffix = randomBytes(4).toString('hex');
  const sendDestination = `bench-send-${suffix}`;
  const pushDestination = `bench-push-${suffix}`;
  const sinkGroup = 'sink';
  const pushGroup = 'push';
  const rawGroup = 'raw';
  const forwardGroup = 'forward';
  const rawBatchGroup = 'raw-batch';
  const pushBatchGroup = 'push-batch';
  const payload = Buffer.from(JSON.stringify({ data: 'x'.repeat(Math.max(0, sizes.payloadBytes - 11)) }));

  const app = await pushReceiver();
  const sidecar = await startSidecar(broker, {
    sendDestination, pushDestination, sinkGroup, pushGroup, appPort: app.port, concurrency: sizes.inFlight,
    batchGroup: pushBatchGroup, batchSize: sizes.batchSize, batchesInFlight: sizes.batchesInFlight,
  });
  let proxy: BareProxy | undefined;
  try {
    // The push bindings wait, paused (their consumers attached, a Kafka group joined), until
    // their queue has been filled, as the direct consumers wait.
    await sidecar.post('/v1/bindings/input/state', { state: 'paused' });
    await sidecar.post('/v1/bindings/batchInput/state', { state: 'paused' });
    const direct = await broker.producer(sendDestination, [sinkGroup]);
    const binder = await inProcessProducer(broker, sendDestination, sinkGroup);
    const bare = await startBareProxy(brokerName, sendDestination, sinkGroup);
    proxy = bare;
    const viaSidecar = (): Promise<void> => sidecar.send('output', payload);
    const viaProxy = (): Promise<void> => bare.send(payload);
    const viaDirect = (): Promise<void> => direct.send(payload);
    let sequence = 0;
    const viaBinder = async (): Promise<void> => {
      sequence += 1;
      await binder.producer.send({ id: `binder-${sequence}`, payload, contentType: 'application/json', headers: {} });
    };

    progress('send latency, one in flight');
    await repeat(sizes.warmup, 1, viaDirect);
    await repeat(sizes.warmup, 1, viaBinder);
    await repeat(sizes.warmup, 1, viaProxy);
    await repeat(sizes.warmup, 1, viaSidecar);
    // One send of each kind in turn, so that a busy moment of the machine hits all four alike.
    const [directSamples = [], binderSamples = [], proxySamples = [], sidecarSamples = []] =
      await timeInTurn(sizes.latencyMessages, [viaDirect, viaBinder, viaProxy, viaSidecar]);

    /** When each phase of the sidecar ran, for slicing its CPU profile (bench/profile). */
    const windows: Record<string, [bigint, bigint]> = {};
    progress(`throughput, ${sizes.inFlight} in flight, ${THROUGHPUT_ROUNDS} alternating rounds (best kept)`);
    const sendStartedAt = process.hrtime.bigint();
    const directRates: number[] = [];
    const binderRates: number[] = [];
    const proxyRates: number[] = [];
    const sidecarRates: number[] = [];
    let directCpuSeconds = 0;
    let proxyCpuSeconds = 0;
    let sidecarCpuSeconds = 0;
    for (let round = 1; round <= THROUGHPUT_ROUNDS; round++) {
      const benchCpu = process.cpuUsage();
      const directRun = await timed(() => repeat(sizes.throughputMessages, sizes.inFlight, viaDirect));
      const directCpu = process.cpuUsage(benchCpu);
      directCpuSeconds += (directCpu.user + directCpu.system) / 1e6;
      directRates.push(sizes.throughputMessages / directRun.seconds);
      const binderRun = await timed(() => repeat(sizes.throughputMessages, sizes.inFlight, viaBinder));
      binderRates.push(sizes.throughputMessages / binderRun.seconds);
      const proxyCpuBefore = processCpuSeconds(bare.pid);
      const proxyRun = await timed(() => repeat(sizes.throughputMessages, sizes.inFlight, viaProxy));
      proxyCpuSeconds += processCpuSeconds(bare.pid) - proxyCpuBefore;
      proxyRates.push(sizes.throughputMessages / proxyRun.seconds);
      const cpuBefore = processCpuSeconds(sidecar.pid);
      const sidecarRun = await timed(() => repeat(sizes.throughputMessages, sizes.inFlight, viaSidecar));
      sidecarCpuSeconds += processCpuSeconds(sidecar.pid) - cpuBefore;
      sidecarRates.push(sizes.throughputMessages / sidecarRun.seconds);
      progress(`round ${round}: direct ${Math.round(directRates.at(-1)!)} msg/s, binder in process ${Math.round(binderRates.at(-1)!)} msg/s, ` +
        `bare HTTP proxy ${Math.round(proxyRates.at(-1)!)} msg/s, sidecar ${Math.round(sidecarRates.at(-1)!)} msg/s`);
    }
    windows.send = [sendStartedAt, process.hrtime.bigint()];
    const batch = Array.from({ length: sizes.batchSize }, () => payload);
    const batchCalls = Math.max(1, Math.round(sizes.throughputMessages / sizes.batchSize));
    const batchesInFlight = sizes.batchesInFlight;
    progress(`bulk, ${sizes.batchSize} messages per call, ${batchesInFlight} calls in flight, ${THROUGHPUT_ROUNDS} alternating rounds (best kept)`);
    const directBatchRates: number[] = [];
    const sidecarBatchRates: number[] = [];
    const bulkStartedAt = process.hrtime.bigint();
    for (let round = 1; round <= THROUGHPUT_ROUNDS; round++) {
      const directRun = await timed(() => repeat(batchCalls, batchesInFlight, () => direct.sendBatch(batch)));
      directBatchRates.push((batchCalls * sizes.batchSize) / directRun.seconds);
      const sidecarRun = await timed(() => repeat(batchCalls, batchesInFlight, () => sidecar.sendBulk('output', batch)));
      sidecarBatchRates.push((batchCalls * sizes.batchSize) / sidecarRun.seconds);
      progress(`round ${round}: direct batched ${Math.round(directBatchRates.at(-1)!)} msg/s, sidecar bulk ${Math.round(sidecarBatchRates.at(-1)!)} msg/s`);
    }
    windows.bulk = [bulkStartedAt, process.hrtime.bigint()];
    await binder.close();
    await direct.close();
    // Stopped before the push rows, whose CPU it would otherwise share.
    await bare.stop();
    proxy = undefined;
    const throughputSent = THROUGHPUT_ROUNDS * sizes.throughputMessages;

    progress(`push delivery of ${sizes.pushMessages} queued messages`);
    const filler = await broker.producer(pushDestination, [pushGroup, rawGroup, forwardGroup, rawBatchGroup, pushBatchGroup]);
    // Every consumer is ready before the queue fills, as the sidecar's paused inputs are (a
    // Kafka group joined, a RabbitMQ channel open), and each drain is timed from its start to
    // the last message's arrival: what it takes to join a group counts for none of them.
    const rawConsumer = await broker.consume(pushDestination, rawGroup, sizes.inFlight, () => app.single.add(1));
    // What any HTTP push costs at least: the direct consumer POSTing each message to the app on
    // as many keep-alive connections, acking once answered. Not a goal; it shows how much of
    // the gap to the raw consumer is the HTTP hop itself and how much the sidecar.
    const forwarder = new Pool(`http://127.0.0.1:${app.port}`, { connections: sizes.inFlight, pipelining: 1 });
    const forwardingConsumer = await broker.consume(pushDestination, forwardGroup, sizes.inFlight, async () => {
      const response = await forwarder.request({ method: 'POST', path: '/forwarded', body: payload, headers: { 'content-type': 'application/json' } });
      await response.body.dump();
    });
    const unacked = unsettledLimit({ concurrency: sizes.batchesInFlight, batchSize: sizes.batchSize });
    const batchedConsumer = await broker.consumeBatched(pushDestination, rawBatchGroup, sizes.batchSize, unacked, (n) => app.batched.add(n));
    const fill = Array.from({ length: sizes.batchSize }, () => payload);
    await repeat(Math.ceil(sizes.pushMessages / sizes.batchSize), sizes.batchesInFlight, () => filler.sendBatch(fill));
    await filler.close();
    /** Starts a consumer (of the bench or the sidecar) and resolves with the rate at which it drained the queue. */
    const drain = async (arrivals: Arrivals, start: () => Promise<void>): Promise<number> => {
      arrivals.start();
      await start();
      await arrivals.done;
      return arrivals.rate();
    };
    const drainSidecar = async (binding: string, arrivals: Arrivals): Promise<{ rate: number; cpuSeconds: number }> => {
      const cpuBefore = processCpuSeconds(sidecar.pid);
      const startedAt = process.hrtime.bigint();
      const rate = await drain(arrivals, () => sidecar.post(`/v1/bindings/${binding}/state`, { state: 'resumed' }));
      windows[binding] = [startedAt, process.hrtime.bigint()];
      return { rate, cpuSeconds: processCpuSeconds(sidecar.pid) - cpuBefore };
    };
    app.single = new Arrivals(sizes.pushMessages);
    const rawRate = await drain(app.single, () => rawConsumer.start());
    await rawConsumer.close();
    progress(`raw consumer: ${Math.round(rawRate)} msg/s`);
    app.single = new Arrivals(sizes.pushMessages);
    const forwardedRate = await drain(app.single, () => forwardingConsumer.start());
    await forwardingConsumer.close();
    await forwarder.close();
    progress(`raw consumer POSTing each message to the app: ${Math.round(forwardedRate)} msg/s`);
    app.single = new Arrivals(sizes.pushMessages);
    const pushRun = await drainSidecar('input', app.single);
    progress(`sidecar push: ${Math.round(pushRun.rate)} msg/s`);

    progress(`push in batches of ${sizes.batchSize}, ${sizes.batchesInFlight} batches in flight, of the same ${sizes.pushMessages} messages`);
    app.batched = new Arrivals(sizes.pushMessages);
    const rawBatchRate = await drain(app.batched, () => batchedConsumer.start());
    await batchedConsumer.close();
    progress(`direct batched consumer: ${Math.round(rawBatchRate)} msg/s`);
    app.batched = new Arrivals(sizes.pushMessages);
    const pushBatchRun = await drainSidecar('batchInput', app.batched);
    progress(`sidecar batch push: ${Math.round(pushBatchRun.rate)} msg/s in ${app.batches} requests`);

    if (process.env.BENCH_CPU_PROF) await writeProfileWindows(process.env.BENCH_CPU_PROF, sidecar.pid, windows);
    const memory = processMemoryMb(sidecar.pid);
    return {
      latency: {
        direct: percentiles(directSamples), binder: percentiles(binderSamples), proxy: percentiles(proxySamples), sidecar: percentiles(sidecarSamples),
      },
      throughput: {
        direct: Math.max(...directRates), binder: Math.max(...binderRates), proxy: Math.max(...proxyRates), sidecar: Math.max(...sidecarRates),
      },
      batched: { direct: Math.max(...directBatchRates), sidecar: Math.max(...sidecarBatchRates) },
      push: { raw: rawRate, forwarded: forwardedRate, sidecar: pushRun.rate },
      pushBatched: { direct: rawBatchRate, sidecar: pushBatchRun.rate },
      cpu: {
        sidecarPer1000: (sidecarCpuSeconds * 1000) / throughputSent,
        directPer1000: (directCpuSeconds * 1000) / throughputSent,
        proxyPer1000: (proxyCpuSeconds * 1000) / throughputSent,
        sidecarPushPer1000: (pushRun.cpuSeconds * 1000) / sizes.pushMessages,
        sidecarBatchPushPer1000: (pushBatchRun.cpuSeconds * 1000) / sizes.pushMessages,
      },
      loadAverage: os.loadavg()[0] ?? 0,
      startup: sidecar.startup,
      rss: { sidecarMb: memory.rss, sidecarPeakMb: memory.peak, benchMb: process.memoryUsage().rss / 2 ** 20 },
    };
  } finally {
    await proxy?.stop();
    await sidecar.stop();
    await app.close();
    await broker.cleanup([sendDestination, pushDestination], [sinkGroup, pushGroup, rawGroup, forwardGroup, rawBatchGroup, pushBatchGroup]);
  }
}

export function report(broker: BrokerBench, sizes: BenchSizes, result: BenchResult): string {
  const { latency, throughput, batched, push, pushBatched, cpu, rss } = result;
  const ms = (n: number): string => `${n.toFixed(3)} ms`;
  const pct = (n: number): string => `${(n * 100).toFixed(0)} %`;
  const verdict = (ok: boolean): string => (ok ? 'MEETS' : 'MISSES');
  const overheadP50 = latency.sidecar.p50 - latency.direct.p50;
  const overheadP99 = latency.sidecar.p99 - latency.direct.p99;
  const throughputRatio = throughput.sidecar / throughput.direct;
  const pushRatio = push.sidecar / push.raw;
  const batchedRatio = batched.sidecar / batched.direct;
  const pushBatchedRatio = pushBatched.sidecar / pushBatched.direct;
  const pushBatchedRawRatio = pushBatched.sidecar / push.raw;
  const vcpuPer1000 = cpu.sidecarPer1000;
  const directVcpuPer1000 = cpu.directPer1000;
  const rows: string[][] = [
    ['send latency p50 (1 in flight)', ms(latency.direct.p50), ms(latency.binder.p50), ms(latency.proxy.p50), ms(latency.sidecar.p50), `+${ms(overheadP50)}`,
      `overhead <= ${GOALS.overheadP50Ms} ms: ${verdict(overheadP50 <= GOALS.overheadP50Ms)}`],
    ['send latency p99 (1 in flight)', ms(latency.direct.p99), ms(latency.binder.p99), ms(latency.proxy.p99), ms(latency.sidecar.p99), `+${ms(overheadP99)}`,
      `overhead <= ${GOALS.overheadP99Ms} ms: ${verdict(overheadP99 <= GOALS.overheadP99Ms)}`],
    [`throughput (${sizes.inFlight} in flight)`, `${Math.round(throughput.direct)} msg/s`, `${Math.round(throughput.binder)} msg/s`,
      `${Math.round(throughput.proxy)} msg/s`, `${Math.round(throughput.sidecar)} msg/s`, pct(throughputRatio),
      `>= ${pct(GOALS.throughputRatio)}: ${verdict(throughputRatio >= GOALS.throughputRatio)}`],
    [`bulk send (${sizes.batchSize} per request) vs batched client`, `${Math.round(batched.direct)} msg/s`, '', '', `${Math.round(batched.sidecar)} msg/s`,
      pct(batchedRatio), `>= ${pct(GOALS.batchedRatio)}: ${verdict(batchedRatio >= GOALS.batchedRatio)}`],
    ['push delivery vs raw consumer', `${Math.round(push.raw)} msg/s`, '', '', `${Math.round(push.sidecar)} msg/s`, pct(pushRatio),
      `>= ${pct(GOALS.pushRatio)}: ${verdict(pushRatio >= GOALS.pushRatio)}`],
    ['push delivery vs raw consumer POSTing to the app', `${Math.round(push.forwarded)} msg/s`, '', '', `${Math.round(push.sidecar)} msg/s`,
      pct(push.sidecar / push.forwarded), '(no goal: the HTTP hop alone)'],
    [`push in batches (${sizes.batchSize} per POST) vs batched consumer`, `${Math.round(pushBatched.direct)} msg/s`, '', '',
      `${Math.round(pushBatched.sidecar)} msg/s`, pct(pushBatchedRatio), `>= ${pct(GOALS.batchedRatio)}: ${verdict(pushBatchedRatio >= GOALS.batchedRatio)}`],
    [`push in batches (${sizes.batchSize} per POST) vs raw consumer`, `${Math.round(push.raw)} msg/s`, '', '',
      `${Math.round(pushBatched.sidecar)} msg/s`, pct(pushBatchedRawRatio), `>= ${pct(GOALS.pushRatio)}: ${verdict(pushBatchedRawRatio >= GOALS.pushRatio)}`],
    ['CPU of sends, vCPU per 1 000 msg/s', directVcpuPer1000.toFixed(3), '', cpu.proxyPer1000.toFixed(3), vcpuPer1000.toFixed(3), `${(vcpuPer1000 / directVcpuPer1000).toFixed(2)}x`,
      `sidecar <= ${GOALS.vcpuPer1000}: ${verdict(vcpuPer1000 <= GOALS.vcpuPer1000)}`],
    ['CPU of push, vCPU per 1 000 msg/s', '', '', '', cpu.sidecarPushPer1000.toFixed(3), '',
      `sidecar <= ${GOALS.vcpuPer1000}: ${verdict(cpu.sidecarPushPer1000 <= GOALS.vcpuPer1000)}`],
    ['CPU of push in batches, vCPU per 1 000 msg/s', '', '', '', cpu.sidecarBatchPushPer1000.toFixed(3), '',
      `sidecar <= ${GOALS.vcpuPer1000}: ${verdict(cpu.sidecarBatchPushPer1000 <= GOALS.vcpuPer1000)}`],
    ['start to ready (spawn to /readyz 200)', '', '', '', `${result.startup.ms.toFixed(0)} ms (${result.startup.cpuMs.toFixed(0)} ms CPU)`, '',
      `<= ${GOALS.startupMs} ms: ${verdict(result.startup.ms <= GOALS.startupMs)}`],
    ['RSS (bench process / sidecar, peak)', `${rss.benchMb.toFixed(0)} MB`, '', '', `${rss.sidecarMb.toFixed(0)} MB (${rss.sidecarPeakMb.toFixed(0)})`,
      `${(rss.sidecarMb / rss.benchMb).toFixed(2)}x`, `sidecar peak <= ${GOALS.rssPeakMb} MB: ${verdict(rss.sidecarPeakMb <= GOALS.rssPeakMb)}`],
  ];
  const header = ['', 'direct client', 'binder in process', 'bare HTTP proxy', 'sidecar', 'sidecar/direct', 'goal'];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    `Bindery bench: ${broker.description}`,
    `  ${sizes.latencyMessages} sequential sends each, ${THROUGHPUT_ROUNDS} x ${sizes.throughputMessages} sends at ${sizes.inFlight} in flight, ` +
      `${sizes.pushMessages} pushed, ${sizes.payloadBytes}-byte JSON payloads, loopback`,
    `  machine: ${os.cpus().length} CPUs, load average ${result.loadAverage.toFixed(1)} at the end of the run; ` +
      `Node ${process.version} (bench and sidecar), sidecar ${sidecarDescription()}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    '"binder in process" is the sidecar\'s binder adapter called directly (no HTTP): the gap',
    'between it and the sidecar is the HTTP and runtime layer, the gap to the direct client the',
    'adapter. "bare HTTP proxy" is the direct client behind a bare node:http server in a process',
    'of its own (bench/bare-proxy.ts): the floor any HTTP sidecar stands on here. The direct',
    'client\'s CPU is the whole bench process while it sends (client included); the proxy\'s and',
    'the sidecar\'s are their own processes alone.',
  ].join('\n');
}

/** The runtime's own binder adapter for this broker, in this process, without HTTP. */
async function inProcessProducer(
  broker: BrokerBench,
  destination: string,
  group: string,
): Promise<{ producer: Producer; close(): Promise<void> }> {
  const binder = await createBinder({ name: 'bench', ...broker.binderConfig } as BinderConfig, { logger: pino({ level: 'silent' }) });
  await binder.connect();
  const producer = await binder.createProducer({
    name: 'output',
    direction: 'output',
    destination,
    binder: 'bench',
    contentType: 'application/json',
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    producer: { ...defaultProducer(), requiredGroups: [group] },
    consumer: defaultConsumer(),
  });
  return { producer, close: () => binder.close() };
}

/**
 * Notes beside the sidecar's CPU profile when each of its inputs drained, in the profile's own
 * clock (microseconds of the monotonic clock, which process.hrtime reads too).
 */
async function writeProfileWindows(dir: string, pid: number, windows: Record<string, [bigint, bigint]>): Promise<void> {
  const micros = Object.fromEntries(Object.entries(windows).map(([name, [from, to]]) => [name, [Number(from / 1000n), Number(to / 1000n)]]));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `windows.${pid}.json`), JSON.stringify(micros));
}
