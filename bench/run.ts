/**
 * `npm run bench -- <broker>`: the sidecar beside the broker's own client, same load, same
 * run (see harness.ts). Not a test: it prints figures, and the goals beside them.
 *
 * A broker is one entry below whose module builds a `BrokerBench`; the harness does the rest.
 * Sizes can be changed with BENCH_MESSAGES (the throughput count; the others scale with it).
 */
import { DEFAULT_SIZES, report, runBench, type BenchSizes, type BrokerBench } from './harness.ts';

const brokers: Record<string, () => Promise<BrokerBench>> = {
  rabbit: async () => (await import('./rabbit/index.ts')).createRabbitBench(),
  kafka: async () => (await import('./kafka/index.ts')).createKafkaBench(),
};

function sizes(): BenchSizes {
  const messages = Number(process.env.BENCH_MESSAGES);
  if (!Number.isInteger(messages) || messages <= 0) return DEFAULT_SIZES;
  const scale = messages / DEFAULT_SIZES.throughputMessages;
  return {
    ...DEFAULT_SIZES,
    throughputMessages: messages,
    latencyMessages: Math.max(100, Math.round(DEFAULT_SIZES.latencyMessages * scale)),
    pushMessages: Math.max(100, Math.round(DEFAULT_SIZES.pushMessages * scale)),
  };
}

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  // The operator's bench measures reconciles, not message paths: it has its own runner.
  if (name === 'operator') return (await import('./operator/index.ts')).main();
  // kafka-clients compares the two JavaScript Kafka clients directly, without a sidecar.
  if (name === 'kafka-clients') return (await import('./kafka-clients/index.ts')).main();
  // profile reads what BENCH_CPU_PROF=<dir> wrote: top frames and flame graph input per input's drain.
  if (name === 'profile') return (await import('./profile/index.ts')).main(argv[1]);
  // Tracing compares two sidecars, not a sidecar with the direct client.
  if (name === 'tracing') return (await import('./tracing/index.ts')).main(argv[1]);
  const create = name === undefined ? undefined : brokers[name];
  if (create === undefined) {
    console.error(`usage: npm run bench -- <${Object.keys(brokers).join('|')}>`);
    return 2;
  }
  const chosen = sizes();
  const broker = await create();
  try {
    console.log(`bench ${name}: ${broker.description}`);
    const result = await runBench(broker, chosen);
    console.log(`\n${report(broker, chosen, result)}`);
    return 0;
  } finally {
    await broker.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
