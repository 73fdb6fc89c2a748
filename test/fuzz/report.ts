/** The fuzz run's table, its failures with how to replay each, and its verdict. */
import type { Rss } from './memory.ts';
import type { FuzzReport } from './run.ts';

/**
 * RSS after a run may exceed RSS before it by this much at most, both read after a full garbage
 * collection: uncollected garbage is not memory the sidecar holds (ADR 0054).
 */
export const RSS_GROWTH_LIMIT = 0.2;

function rssGrowth(before: Rss, after: Rss): number {
  return (after.collected - before.collected) / before.collected;
}

const mib = (n: number): string => n.toFixed(1);
const change = (before: number, after: number): string => `${mib(before)} → ${mib(after)}`;

/** What moved between the two readings, after the collection: V8's spaces, Node's buffers, and the resident pages by owner. */
function breakdown(before: Rss, after: Rss): string {
  const spaces = Object.keys(after.figures.spaces).map((name) => {
    const [b, a] = [before.figures.spaces[name] ?? { committed: 0, used: 0 }, after.figures.spaces[name]!];
    return `${name} ${change(b.committed, a.committed)} committed, ${change(b.used, a.used)} used`;
  });
  const figure = (key: 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers'): string => `${key} ${change(before.figures[key], after.figures[key])}`;
  const page = (key: keyof Rss['pages']): string => `${key} ${change(before.pages[key], after.pages[key])}`;
  return [
    `  process.memoryUsage() MiB: ${(['heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const).map(figure).join(', ')}`,
    `  V8 spaces MiB: ${spaces.join('; ')}`,
    `  resident pages MiB (smaps, ${after.allocator} malloc): ${(['files', 'brkHeap', 'threadArenas', 'otherAnonymous'] as const).map(page).join(', ')}`,
  ].join('\n');
}

/** Prints the reports; returns the exit code (1 on any failure or RSS growth over the limit). */
export function printReports(all: FuzzReport[]): number {
  const rows = all.map((r) => {
    const [before, after] = [r.rssBefore, r.rssAfter];
    const growth = before && after ? rssGrowth(before, after) : Number.NaN;
    return [r.binder, r.requests, r.counts.crash, r.counts.hang, r.counts['5xx'], r.counts['off-contract'], r.counts.lost,
      `${mib(before?.collected ?? Number.NaN)} MiB`, `${mib(after?.collected ?? Number.NaN)} MiB`, `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %`,
      `${before?.idle.toFixed(0)} → ${after?.idle.toFixed(0)} MiB`, `${change(before?.heap ?? Number.NaN, after?.heap ?? Number.NaN)} MiB`, r.seconds.toFixed(0)].map(String);
  });
  const header = ['binder', 'requests', 'crashes', 'hangs', '5xx', 'off-contract', 'lost', 'RSS before', 'RSS after', 'RSS change', 'uncollected', 'V8 heap in use', 'seconds'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(header)}\n${rows.map(line).join('\n')}`);
  let failed = 0;
  for (const report of all) {
    if (report.rssBefore && report.rssAfter) {
      console.log(`${report.binder}, before → after the run (memory limit ${report.memoryLimit}):\n${breakdown(report.rssBefore, report.rssAfter)}`);
      const growth = rssGrowth(report.rssBefore, report.rssAfter);
      if (growth > RSS_GROWTH_LIMIT) {
        failed++;
        console.log(`${report.binder}: RSS grew ${(growth * 100).toFixed(1)} % (limit ${RSS_GROWTH_LIMIT * 100} %)`);
      }
    }
    for (const f of report.failures) {
      failed++;
      console.log(`${report.binder} #${f.index} ${f.failure} (${f.kind}): ${f.summary}\n  ${f.detail.slice(0, 500)}\n  replay: npm run fuzz -- --seed ${f.seed} --binder ${report.binder} --only ${f.index}`);
    }
  }
  console.log('RSS before and after: 2 s after a full garbage collection; uncollected: as the process stood just before it; V8 heap in use and the breakdown: after the collection.');
  console.log(`\nby kind: ${all.map((r) => `${r.binder} ${JSON.stringify(r.byKind)}`).join('; ')}`);
  return failed === 0 ? 0 : 1;
}
