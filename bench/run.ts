/**
 * `npm run bench -- <broker>`: the sidecar beside the broker's own client, same load, same
 * run (see harness.ts). Not a test: it prints figures, and the goals beside them.
 *
 * A broker is an entry of brokers.ts whose module builds a `BrokerBench`; the harness does the rest.
 * Sizes can be changed with BENCH_MESSAGES (the throughput count; the others scale with it).
 *
 * Every bench runs on the Node.js the image ships (the goals hold there, and the Node
 * version alone moves the figures): started on another Node, run.ts starts itself again on
 * that one, so that the bench and the sidecar it spawns (process.execPath) run on the same
 * Node. BENCH_NODE=current keeps the Node it was started on; BENCH_NODE=<path> names a node.
 */
import { fileURLToPath } from 'node:url';
import { ensureAllocator } from '../test/env/allocator.ts';
import { imageNodeToRunOn, rerunOn } from '../test/env/image-node.ts';
import { brokers } from './brokers.ts';
import { DEFAULT_SIZES, report, runBench, type BenchSizes } from './harness.ts';


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

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined || !benches.includes(name)) {
    console.error(`usage: npm run bench -- <${benches.join('|')}>`);
    return 2;
  }
  const log = (line: string): void => console.log(`bench: ${line}`);
  const node = await imageNodeToRunOn('BENCH_NODE', log);
  if (node !== undefined) return rerunOn(node, fileURLToPath(import.meta.url), argv, 'BENCH_NODE', log);
  // Sidecars run on the pod's allocator (docs/adr/0059): their CPU and RSS are the pod's.
  await ensureAllocator(log);
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
    const result = await runBench(broker, name, chosen);
    console.log(`\n${report(broker, chosen, result)}`);
    return 0;
  } finally {
    await broker.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
