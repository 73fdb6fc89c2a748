/**
 * `npm run bench -- kafka-clients`: the two JavaScript Kafka clients the adapter could stand on,
 * kafkajs and @platformatic/kafka, driven the same way against the test Kafka in one run:
 * produce latency at one in flight (one send of each in turn), produce throughput at 64 in
 * flight and in batches (alternating rounds, best kept), and a consumer group reading a filled
 * topic. Every send waits for acks=all from an idempotent producer, as the adapter's do.
 *
 * @platformatic/kafka is not a dependency of the project (it needs Node 22.22+, the suite runs
 * on Node 20; docs/adr/0039): the bench installs the pinned version into the user's cache on
 * its first run and imports it from there.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { testEnvironment } from '../../test/env/addresses.ts';
import { cacheDir } from '../../test/env/paths.ts';
import { run, withLock } from '../../test/env/process.ts';
import { percentiles, repeat, timed, timeInTurn, type Percentiles } from '../measure.ts';

const platformaticVersion = '2.12.1';
/** The engines field of that version: 2.x calls Promise.withResolvers and other Node 22 APIs. */
const platformaticEngines = '>= 22.22.0 || >= 24.6.0';

/** The part of @platformatic/kafka's API the bench drives; the package is loaded at run time. */
interface PlatformaticKafka {
  Producer: new (options: Record<string, unknown>) => {
    send(request: { messages: { topic: string; value: Buffer; headers: Record<string, string> }[] }): Promise<unknown>;
    close(): Promise<void>;
  };
  Consumer: new (options: Record<string, unknown>) => {
    consume(options: Record<string, unknown>): Promise<{ on(event: 'data', listener: () => void): unknown; close(): Promise<void> }>;
    close(): Promise<void>;
  };
  ProduceAcks: { ALL: number };
  stringSerializer: unknown;
}

interface ClientProducer {
  send(payload: Buffer): Promise<void>;
  /** All of `payloads` in one call, to the producer's topic or to `other`. */
  sendBatch(payloads: Buffer[], other?: string): Promise<void>;
  close(): Promise<void>;
}

interface Client {
  readonly name: string;
  producer(topic: string): Promise<ClientProducer>;
  /** Reads `count` records of `topic` in a new group. */
  consume(topic: string, group: string, count: number): Promise<ConsumeTimes>;
}

const sizes = {
  warmup: 200,
  latencyMessages: Number(process.env.BENCH_MESSAGES ?? 2000),
  throughputMessages: 5000,
  inFlight: 64,
  batchSize: 64,
  batchesInFlight: 4,
  consumeMessages: 20_000,
  consumePartitions: 8,
  payloadBytes: 256,
  rounds: 2,
};

const headers = (id: string): Record<string, string> => ({ contentType: 'application/json', id });

function kafkajsClient(brokers: string[]): Client {
  const kafka = new Kafka({ clientId: 'bindery-bench-kafkajs', brokers, logLevel: logLevel.NOTHING });
  return {
    name: 'kafkajs',
    async producer(topic) {
      const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
      await producer.connect();
      let sequence = 0;
      return {
        async send(value) {
          await producer.send({ topic, acks: -1, messages: [{ value, headers: headers(`kafkajs-${++sequence}`) }] });
        },
        async sendBatch(values, other = topic) {
          await producer.send({ topic: other, acks: -1, messages: values.map((value) => ({ value, headers: headers(`kafkajs-${++sequence}`) })) });
        },
        close: () => producer.disconnect(),
      };
    },
    async consume(topic, group, count) {
      const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 500, heartbeatInterval: 1000 });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const clock = countdown(count);
      await consumer.run({ partitionsConsumedConcurrently: sizes.consumePartitions, eachMessage: async () => clock.tick() });
      try {
        return await clock.done;
      } finally {
        await consumer.disconnect();
      }
    },
  };
}

function platformaticClient(brokers: string[], { Producer, Consumer, ProduceAcks, stringSerializer }: PlatformaticKafka): Client {
  return {
    name: '@platformatic/kafka',
    async producer(topic) {
      const producer = new Producer({
        clientId: 'bindery-bench-platformatic', bootstrapBrokers: brokers, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false,
        serializers: { headerKey: stringSerializer, headerValue: stringSerializer },
      });
      let sequence = 0;
      return {
        async send(value) {
          await producer.send({ messages: [{ topic, value, headers: headers(`platformatic-${++sequence}`) }] });
        },
        async sendBatch(values, other = topic) {
          await producer.send({ messages: values.map((value) => ({ topic: other, value, headers: headers(`platformatic-${++sequence}`) })) });
        },
        close: () => producer.close(),
      };
    },
    async consume(topic, group, count) {
      const consumer = new Consumer({
        clientId: 'bindery-bench-platformatic', bootstrapBrokers: brokers, groupId: group, maxWaitTime: 500, heartbeatInterval: 1000,
      });
      const clock = countdown(count);
      const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: true });
      stream.on('data', () => clock.tick());
      try {
        return await clock.done;
      } finally {
        await stream.close();
        await consumer.close();
      }
    },
  };
}

/** Seconds from the first record to the last, and from creating the consumer (group join included). */
interface ConsumeTimes {
  reading: number;
  total: number;
}

/** Resolves once `count` ticks came, with the times since the first tick and since its creation. */
function countdown(count: number): { tick(): void; done: Promise<ConsumeTimes> } {
  const created = process.hrtime.bigint();
  let first: bigint | undefined;
  let seen = 0;
  let finish!: (times: ConsumeTimes) => void;
  const done = new Promise<ConsumeTimes>((resolve, reject) => {
    finish = resolve;
    setTimeout(() => reject(new Error(`${seen} of ${count} records within 120 s`)), 120_000).unref();
  });
  return {
    tick() {
      first ??= process.hrtime.bigint();
      if (++seen < count) return;
      const now = process.hrtime.bigint();
      finish({ reading: Number(now - first) / 1e9, total: Number(now - created) / 1e9 });
    },
    done,
  };
}

interface ClientFigures {
  latency: Percentiles;
  throughput: number;
  /** CPU seconds of this (the bench) process per 1 000 messages sent at 64 in flight. */
  cpuPer1000: number;
  batched: number;
  consume: number;
  consumeWithJoin: number;
}

/** Whether this Node satisfies the engines field above (its two ranges meet at 22.22). */
function nodeCanRunPlatformatic(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 22);
}

/**
 * The pinned @platformatic/kafka from the user's cache, installed there on first use (under a
 * lock, so two checkouts do not install at once) with the npm beside the running Node.
 */
async function loadPlatformatic(): Promise<PlatformaticKafka> {
  const prefix = join(cacheDir(), 'bench', `platformatic-kafka-${platformaticVersion}`);
  const installed = join(prefix, 'node_modules', '@platformatic', 'kafka', 'package.json');
  await withLock(`bench-platformatic-kafka-${platformaticVersion}`, async () => {
    if (existsSync(installed)) return;
    console.log(`bench kafka-clients: installing @platformatic/kafka ${platformaticVersion} into ${prefix} (once)`);
    await run({
      command: 'npm',
      args: ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `@platformatic/kafka@${platformaticVersion}`],
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
  }, { dir: cacheDir() });
  const entry = createRequire(join(prefix, 'package.json')).resolve('@platformatic/kafka');
  return (await import(pathToFileURL(entry).href)) as PlatformaticKafka;
}

export async function main(): Promise<number> {
  // On Node 20 its first send throws `TypeError: Promise.withResolvers is not a function`.
  if (!nodeCanRunPlatformatic()) {
    console.error(`@platformatic/kafka ${platformaticVersion} needs Node ${platformaticEngines} (its engines field); this is Node ${process.version}. ` +
      'Run it on the Node the image ships: without BENCH_NODE=current, or with BENCH_NODE naming a Node 22.22+ binary.');
    return 2;
  }
  const platformatic = await loadPlatformatic();
  const env = await testEnvironment();
  const brokers = env.kafkaBrokers;
  const admin = new Kafka({ clientId: 'bindery-bench-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const suffix = randomBytes(4).toString('hex');
  const produceTopic = `bench-clients-produce-${suffix}`;
  const consumeTopic = `bench-clients-consume-${suffix}`;
  const groups: string[] = [];
  const clients = [kafkajsClient(brokers), platformaticClient(brokers, platformatic)];
  const payload = Buffer.from(JSON.stringify({ data: 'x'.repeat(Math.max(0, sizes.payloadBytes - 11)) }));
  const progress = (line: string): void => void process.stdout.write(`  ${line}\n`);
  try {
    await admin.createTopics({
      topics: [{ topic: produceTopic, numPartitions: 1 }, { topic: consumeTopic, numPartitions: sizes.consumePartitions }],
      waitForLeaders: true,
    });
    console.log(`bench kafka-clients: Kafka at ${brokers.join(',')}; kafkajs against @platformatic/kafka ${platformaticVersion} on Node ${process.version}`);
    const producers = await Promise.all(clients.map((c) => c.producer(produceTopic)));
    const sends = producers.map((p) => () => p.send(payload));

    progress('produce latency, one in flight');
    for (const send of sends) await repeat(sizes.warmup, 1, send);
    const latency = await timeInTurn(sizes.latencyMessages, sends);

    progress(`produce throughput, ${sizes.inFlight} in flight, ${sizes.rounds} alternating rounds (best kept)`);
    const rates = clients.map((): number[] => []);
    const cpu = clients.map(() => 0);
    for (let round = 1; round <= sizes.rounds; round++) {
      for (const [i, send] of sends.entries()) {
        const before = process.cpuUsage();
        const run = await timed(() => repeat(sizes.throughputMessages, sizes.inFlight, send));
        const used = process.cpuUsage(before);
        cpu[i]! += (used.user + used.system) / 1e6;
        rates[i]!.push(sizes.throughputMessages / run.seconds);
      }
      progress(`round ${round}: ${clients.map((c, i) => `${c.name} ${Math.round(rates[i]!.at(-1)!)} msg/s`).join(', ')}`);
    }

    progress(`produce in batches of ${sizes.batchSize}, ${sizes.batchesInFlight} batches in flight`);
    const batch = Array.from({ length: sizes.batchSize }, () => payload);
    const batches = Math.round(sizes.throughputMessages / sizes.batchSize);
    const batchRates = clients.map((): number[] => []);
    for (let round = 1; round <= sizes.rounds; round++) {
      for (const [i, producer] of producers.entries()) {
        const run = await timed(() => repeat(batches, sizes.batchesInFlight, () => producer.sendBatch(batch)));
        batchRates[i]!.push((batches * sizes.batchSize) / run.seconds);
      }
      progress(`round ${round}: ${clients.map((c, i) => `${c.name} ${Math.round(batchRates[i]!.at(-1)!)} msg/s`).join(', ')}`);
    }

    progress(`consumer group reading ${sizes.consumeMessages} records from ${sizes.consumePartitions} partitions`);
    const [filler] = producers;
    await repeat(Math.ceil(sizes.consumeMessages / sizes.batchSize), sizes.batchesInFlight, () => filler!.sendBatch(batch, consumeTopic));
    for (const producer of producers) await producer.close();
    const consumeRates = clients.map((): number[] => []);
    const consumeWithJoinRates = clients.map((): number[] => []);
    for (let round = 1; round <= sizes.rounds; round++) {
      // The second round starts with the other client, so that neither always reads a cold log.
      const order = round % 2 === 1 ? clients.map((_, i) => i) : clients.map((_, i) => i).reverse();
      for (const i of order) {
        const group = `bench-clients-${clients[i]!.name.replace(/\W/g, '')}-${round}-${suffix}`;
        groups.push(group);
        const times = await clients[i]!.consume(consumeTopic, group, fillCount());
        consumeRates[i]!.push(fillCount() / times.reading);
        consumeWithJoinRates[i]!.push(fillCount() / times.total);
      }
      progress(`round ${round}: ${clients.map((c, i) => `${c.name} ${Math.round(consumeRates[i]!.at(-1)!)} msg/s`).join(', ')}`);
    }

    const figures: ClientFigures[] = clients.map((_, i) => ({
      latency: percentiles(latency[i]!),
      throughput: Math.max(...rates[i]!),
      cpuPer1000: (cpu[i]! * 1000) / (sizes.rounds * sizes.throughputMessages),
      batched: Math.max(...batchRates[i]!),
      consume: Math.max(...consumeRates[i]!),
      consumeWithJoin: Math.max(...consumeWithJoinRates[i]!),
    }));
    console.log(`\n${report(clients, figures)}`);
    return 0;
  } finally {
    await admin.deleteGroups(groups).catch(() => {});
    await admin.deleteTopics({ topics: [produceTopic, consumeTopic] }).catch(() => {});
    await admin.disconnect();
  }
}

/** The consume topic holds whole batches. */
function fillCount(): number {
  return Math.ceil(sizes.consumeMessages / sizes.batchSize) * sizes.batchSize;
}

function report(clients: Client[], figures: ClientFigures[]): string {
  const [a, b] = figures as [ClientFigures, ClientFigures];
  const ms = (n: number): string => `${n.toFixed(3)} ms`;
  const rate = (n: number): string => `${Math.round(n)} msg/s`;
  const ratio = (x: number, y: number): string => `${(y / x).toFixed(2)}x`;
  const rows: string[][] = [
    ['produce latency p50 (1 in flight, acks=all)', ms(a.latency.p50), ms(b.latency.p50), ratio(a.latency.p50, b.latency.p50)],
    ['produce latency p99 (1 in flight, acks=all)', ms(a.latency.p99), ms(b.latency.p99), ratio(a.latency.p99, b.latency.p99)],
    [`produce throughput (${sizes.inFlight} in flight, acks=all)`, rate(a.throughput), rate(b.throughput), ratio(a.throughput, b.throughput)],
    [`  CPU, vCPU per 1 000 msg/s (bench process)`, a.cpuPer1000.toFixed(3), b.cpuPer1000.toFixed(3), ratio(a.cpuPer1000, b.cpuPer1000)],
    [`produce batched (${sizes.batchSize} per call, ${sizes.batchesInFlight} in flight)`, rate(a.batched), rate(b.batched), ratio(a.batched, b.batched)],
    [`consumer group (${fillCount()} records, ${sizes.consumePartitions} partitions)`, rate(a.consume), rate(b.consume), ratio(a.consume, b.consume)],
    ['  the same, from creating the consumer (join included)', rate(a.consumeWithJoin), rate(b.consumeWithJoin), ratio(a.consumeWithJoin, b.consumeWithJoin)],
  ];
  const header = ['', ...clients.map((c) => c.name), `${clients[1]!.name} / ${clients[0]!.name}`];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    `Kafka clients: ${sizes.latencyMessages} sequential sends each, ${sizes.rounds} x ${sizes.throughputMessages} sends at ${sizes.inFlight} in flight, ` +
      `${sizes.payloadBytes}-byte payloads, idempotent producers, loopback`,
    `  machine: ${os.cpus().length} CPUs, load average ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end of the run; Node ${process.version}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    'A ratio above 1 favours the second client for throughput, the first for latency and CPU.',
  ].join('\n');
}
