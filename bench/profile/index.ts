/**
 * `npm run bench -- profile <dir>`: reads the sidecar CPU profiles a bench wrote with
 * BENCH_CPU_PROF=<dir> and, for the whole run and for each input's drain (push, batch push),
 * prints the top self frames as shares of the busy time and writes a folded-stack file
 * (`<profile>.<window>.folded`, one `frame;frame;frame count` line per stack) that flame graph
 * tools (speedscope, flamegraph.pl, inferno) draw.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** V8's own pseudo-frames: what the process did outside JavaScript. */
const IDLE = '(idle)';

const TOP = 20;

export function main(dir: string | undefined): number {
  if (dir === undefined) {
    console.error('usage: npm run bench -- profile <dir written by BENCH_CPU_PROF>');
    return 2;
  }
  const profiles = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')).sort();
  if (profiles.length === 0) {
    console.error(`no .cpuprofile in ${dir}: run a bench with BENCH_CPU_PROF=${dir} first`);
    return 1;
  }
  for (const name of profiles) {
    const pid = /\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(name)?.[1];
    const windowsFile = readdirSync(dir).find((file) => file === `windows.${pid}.json`);
    const windows: Record<string, [number, number]> = windowsFile === undefined ? {} : JSON.parse(readFileSync(join(dir, windowsFile), 'utf8'));
    const profile = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
    for (const [window, range] of [['whole run', undefined] as const, ...Object.entries(windows)]) {
      const { top, busy, total, folded } = summarize(profile, range);
      console.log(`\n${name}, ${window}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms sampled`);
      for (const [frame, micros] of top) console.log(`  ${((micros / busy) * 100).toFixed(1).padStart(5)} %  ${frame}`);
      const out = join(dir, `${name.replace(/\.cpuprofile$/, '')}.${window.replace(/\W+/g, '-')}.folded`);
      writeFileSync(out, folded);
      console.log(`  flame graph input: ${out}`);
    }
  }
  return 0;
}

/** Self time per frame (µs) of the samples within `range` (all when undefined), and their folded stacks. */
function summarize(profile: CpuProfile, range: readonly [number, number] | undefined): {
  top: [string, number][]; busy: number; total: number; folded: string;
} {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const stacks = new Map<string, number>();
  let at = profile.startTime;
  let busy = 0;
  let total = 0;
  for (const [index, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (range !== undefined && (at < range[0] || at > range[1])) continue;
    total += delta;
    const node = byId.get(id)!;
    const frame = describe(node);
    if (frame === IDLE) continue;
    busy += delta;
    self.set(frame, (self.get(frame) ?? 0) + delta);
    const stack: string[] = [];
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const name = describe(byId.get(current)!);
      if (name !== '(root)') stack.push(name.replace(/;/g, ','));
    }
    const key = stack.reverse().join(';');
    stacks.set(key, (stacks.get(key) ?? 0) + delta);
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  const folded = [...stacks.entries()].map(([stack, micros]) => `${stack} ${micros}`).join('\n') + '\n';
  return { top, busy, total, folded };
}

function describe(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === '') return functionName || '(anonymous)';
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/(dist|runtime)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}
