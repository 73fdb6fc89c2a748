/**
 * `npm run bench -- <broker>`: the sidecar beside the broker's own client, same load, same
 * run (see harness.ts). Not a test: it prints figures, and the goals beside them.
 *
 * A broker is one entry below whose module builds a `BrokerBench`; the harness does the rest.
 * Sizes can be changed with BENCH_MESSAGES (the throughput count; the others scale with it).
 *
 * Every bench runs on the Node.js the image ships (the goals hold there, and the Node
 * version alone moves the figures): started on another Node, run.ts starts itself again on
 * that one, so that the bench and the sidecar it spawns (process.execPath) run on the same
 * Node. BENCH_NODE=current keeps the Node it was started on; BENCH_NODE=<path> names a node.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { imageNodeDir, nodeWheelVersion } from '../test/env/node-images.ts';
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

const benches = [...Object.keys(brokers), 'operator', 'kafka-clients', 'tracing', 'profile'];

/** The node binary the bench should run on, or undefined when that is the one running now. */
async function benchNode(): Promise<string | undefined> {
  const chosen = process.env.BENCH_NODE;
  if (chosen === 'current' || chosen === process.execPath) return undefined;
  if (chosen !== undefined && chosen !== '') return chosen;
  if (process.version === `v${nodeWheelVersion}`) return undefined;
  const dir = await imageNodeDir((line) => console.log(`bench: ${line}`));
  return `${dir}/bin/node`;
}

/** Runs this file again on `node` (through tsx, as npm runs it), with the same arguments; its exit code. */
async function rerunOn(node: string, argv: string[]): Promise<number> {
  console.log(`bench: running on the image's Node.js ${nodeWheelVersion} (${node}), not on this ${process.version}; BENCH_NODE=current keeps this one`);
  const child = spawn(node, ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_NODE: 'current' },
  });
  // A stopped bench stops its run on the other Node too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined || !benches.includes(name)) {
    console.error(`usage: npm run bench -- <${benches.join('|')}>`);
    return 2;
  }
  const node = await benchNode();
  if (node !== undefined) return rerunOn(node, argv);
  // The operator's bench measures reconciles, not message paths: it has its own runner.
  if (name === 'operator') return (await import('./operator/index.ts')).main();
  // kafka-clients compares the two JavaScript Kafka clients directly, without a sidecar.
  if (name === 'kafka-clients') return (await import('./kafka-clients/index.ts')).main();
  // profile reads what BENCH_CPU_PROF=<dir> wrote: top frames and flame graph input per input's drain.
  if (name === 'profile') return (await import('./profile/index.ts')).main(argv[1]);
  // Tracing compares two sidecars, not a sidecar with the direct client.
  if (name === 'tracing') return (await import('./tracing/index.ts')).main(argv[1]);
  const create = brokers[name]!;
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
