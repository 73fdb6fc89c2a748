/**
 * `npm run fuzz -- [--seed N] [--requests N] [--binder memory,rabbit,kafka] [--only i,j]
 * [--concurrency N]`: generated requests against a real sidecar on each binder, on the test
 * environment's own brokers (started here when they are not up, with the environment's own
 * code). Prints the seed first, then a table of crashes, hangs, 5xx, off-contract answers,
 * lost messages and RSS, and how to replay each failure. Exits 1 on any failure or an RSS growth over 20 %.
 * Runs on the image's Node.js, as the pod's sidecar does (FUZZ_NODE=current keeps the Node that
 * started it, FUZZ_NODE=<path> names another): RSS is the pod's figure.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureAllocator } from '../env/allocator.ts';
import { withBrokers } from '../env/brokers.ts';
import { imageNodeToRunOn, rerunOn } from '../env/image-node.ts';
import { freshSeed } from './random.ts';
import { printReports } from './report.ts';
import { runFuzz, type FuzzReport } from './run.ts';
import type { BinderType } from './target.ts';

const log = (line: string): void => console.log(`fuzz: ${line}`);
const node = await imageNodeToRunOn('FUZZ_NODE', log);
if (node !== undefined) process.exit(await rerunOn(node, fileURLToPath(import.meta.url), process.argv.slice(2), 'FUZZ_NODE', log));

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    requests: { type: 'string', default: '100000' },
    binder: { type: 'string', default: 'memory,rabbit,kafka' },
    only: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
  },
});

const seed = values.seed !== undefined ? Number(values.seed) : freshSeed();
const requests = Number(values.requests);
const binders = values.binder!.split(',').map((b) => b.trim()) as BinderType[];
const only = values.only?.split(',').map(Number);
console.log(`fuzz: seed ${seed}, ${only ? `cases ${only.join(', ')}` : `${requests} requests`} per binder on ${binders.join(', ')}`);
console.log(`replay: npm run fuzz -- --seed ${seed} --requests ${requests} --binder ${binders.join(',')}`);

const reports: FuzzReport[] = [];
// The sidecar runs on the pod's allocator: the RSS bar is about the pod's memory (docs/adr/0059).
await ensureAllocator((line) => console.log(`[env] ${line}`));
await withBrokers(binders, async (env) => {
  for (const binder of binders) {
    reports.push(await runFuzz(env, { seeds: [seed], requests, binder, concurrency: Number(values.concurrency), ...(only && { only }), progress: (line) => console.log(line) }));
  }
});
process.exitCode = printReports(reports);
