/**
 * `npm run chaos -- [--scenario a,b] [--sends N] [--concurrency N] [--down MS] [--quiet MS]`:
 * faults injected into the test environment's real brokers and real sidecar processes under
 * send and push load (see scenarios.ts), each in turn. Prints a table per scenario: sends made
 * and answered 202, lost (202 and never pushed to the app), duplicated pushes, answers other
 * than 202 by status, and the longest time without a 202 and without a push from the fault on.
 * Exits 1 when a message was lost or a scenario could not run to its end.
 */
import { parseArgs } from 'node:util';
import { ensureAllocator } from '../env/allocator.ts';
import { withBrokers } from '../env/brokers.ts';
import { runScenario, type ScenarioResult } from './run.ts';
import { SCENARIOS } from './scenarios.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: SCENARIOS.map((s) => s.name).join(',') },
    sends: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '8' },
    down: { type: 'string', default: '3000' },
    quiet: { type: 'string', default: '60000' },
  },
});

const names = values.scenario!.split(',').map((s) => s.trim());
const unknown = names.filter((name) => !SCENARIOS.some((s) => s.name === name));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const scenarios = SCENARIOS.filter((s) => names.includes(s.name));
const options = { sends: Number(values.sends), concurrency: Number(values.concurrency), downMs: Number(values.down), quietMs: Number(values.quiet) };
console.log(`chaos: ${scenarios.map((s) => s.name).join(', ')}; ${options.sends} sends each, ${options.concurrency} in flight, faults last ${options.downMs} ms`);

const results: ScenarioResult[] = [];
// The sidecars run as a pod's, on jemalloc (docs/adr/0059).
await ensureAllocator((line) => console.log(`[env] ${line}`));
await withBrokers(scenarios.flatMap((s) => s.binders), async (env) => {
  for (const scenario of scenarios) {
    const result = await runScenario(env, scenario, { ...options, progress: (line) => console.log(line) });
    results.push(result);
    if (result.lost > 0) console.log(`${scenario.name}: lost ids (first ${result.lostIds.length}): ${result.lostIds.join(', ')}`);
  }
});

const seconds = (ms: number): string => (ms / 1000).toFixed(1);
const rows = results.map((r) => [
  r.scenario,
  String(r.sent),
  String(r.accepted),
  String(r.lost),
  String(r.duplicated),
  [...r.refused].sort().map(([status, n]) => `${status}:${n}`).join(' ') || '-',
  seconds(r.sendRecoveryMs),
  seconds(r.pushRecoveryMs),
  r.error === undefined ? (r.lost === 0 ? 'ok' : 'LOST') : 'ERROR',
]);
const header = ['scenario', 'sent', '202', 'lost', 'duplicated', 'refused (status:n)', 'no 202 (s)', 'no push (s)', 'result'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\n${line(header)}\n| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n${rows.map(line).join('\n')}`);
console.log('\nno 202 / no push: the longest time without a send answered 202 / a push reaching the app, from the fault until the sends stopped.');
for (const r of results.filter((r) => r.error !== undefined)) console.log(`${r.scenario}: ${r.error}`);
process.exitCode = results.some((r) => r.lost > 0 || r.error !== undefined) ? 1 : 0;
