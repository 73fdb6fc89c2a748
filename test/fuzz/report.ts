/** The fuzz run's table, its failures with how to replay each, and its verdict. */
import type { FuzzReport } from './run.ts';

/**
 * RSS after a run may exceed RSS before it by this much at most, both read after a full garbage
 * collection: uncollected garbage is not memory the sidecar holds (ADR 0054).
 */
export const RSS_GROWTH_LIMIT = 0.2;

function rssGrowth(report: FuzzReport): number {
  return (report.rssAfter.collected - report.rssBefore.collected) / report.rssBefore.collected;
}

/** Prints the reports; returns the exit code (1 on any failure or RSS growth over the limit). */
export function printReports(all: FuzzReport[]): number {
  const rows = all.map((r) => {
    const growth = rssGrowth(r);
    return [r.binder, r.requests, r.counts.crash, r.counts.hang, r.counts['5xx'], r.counts['off-contract'], r.counts.lost,
      `${r.rssBefore.collected.toFixed(1)} MiB`, `${r.rssAfter.collected.toFixed(1)} MiB`, `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %`,
      `${r.rssBefore.idle.toFixed(0)} → ${r.rssAfter.idle.toFixed(0)} MiB`, `${r.rssBefore.heap.toFixed(1)} → ${r.rssAfter.heap.toFixed(1)} MiB`, r.seconds.toFixed(0)].map(String);
  });
  const header = ['binder', 'requests', 'crashes', 'hangs', '5xx', 'off-contract', 'lost', 'RSS before', 'RSS after', 'RSS change', 'uncollected', 'V8 heap in use', 'seconds'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(header)}\n${rows.map(line).join('\n')}`);
  let failed = 0;
  for (const report of all) {
    const growth = rssGrowth(report);
    if (growth > RSS_GROWTH_LIMIT) {
      failed++;
      console.log(`${report.binder}: RSS grew ${(growth * 100).toFixed(1)} % (limit ${RSS_GROWTH_LIMIT * 100} %)`);
    }
    for (const f of report.failures) {
      failed++;
      console.log(`${report.binder} #${f.index} ${f.failure} (${f.kind}): ${f.summary}\n  ${f.detail.slice(0, 500)}\n  replay: npm run fuzz -- --seed ${f.seed} --binder ${report.binder} --only ${f.index}`);
    }
  }
  console.log('RSS before and after: 2 s after a full garbage collection; uncollected: as the process stood just before it; V8 heap in use: after the collection.');
  console.log(`\nby kind: ${all.map((r) => `${r.binder} ${JSON.stringify(r.byKind)}`).join('; ')}`);
  return failed === 0 ? 0 : 1;
}
