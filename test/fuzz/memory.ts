/**
 * The sidecar's memory at rest, as the fuzz run reads it: RSS as the process stands and after a
 * full garbage collection (ADR 0054), and, to tell what moved, what V8 and Node account for
 * after that collection and what the resident pages are by /proc/PID/smaps.
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'undici';
import { allocatorMapped } from '../env/allocator.ts';

const MiB = 1024 * 1024;

/** Resident pages by what holds them, in MiB. */
export interface ResidentPages {
  /** Mapped files: the node binary, libraries, the compile cache. */
  files: number;
  /** glibc's main heap (`[heap]`, grown with brk; jemalloc does not use it). */
  brkHeap: number;
  /** glibc's heaps for other threads: 64 MiB-aligned reservations of which a part is usable. */
  threadArenas: number;
  /** Every other anonymous page: V8's heap pages and code, malloc blocks mapped on their own, thread stacks, and all of jemalloc's. */
  otherAnonymous: number;
}

/** What the process accounts for itself after the collection, in MiB. */
export interface HeapFigures {
  /** `process.memoryUsage()`. */
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** `v8.getHeapSpaceStatistics()`: each space's committed and used size. */
  spaces: Record<string, { committed: number; used: number }>;
}

export interface Rss {
  /** As the process stood, before the collection. */
  idle: number;
  /** 2 s after a full collection: what the 20 % bar applies to. */
  collected: number;
  /** The V8 heap in use after the collection (`Runtime.getHeapUsage`). */
  heap: number;
  figures: HeapFigures;
  pages: ResidentPages;
  /** The malloc the process runs on: jemalloc when the pod's preload took (docs/adr/0059), else glibc's. */
  allocator: 'jemalloc' | 'glibc';
}

export function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

/** Reads the heap figures inside the process; `process` is a global of the context the inspector evaluates in. */
const FIGURES_EXPRESSION = `(() => {
  const memory = process.memoryUsage();
  const spaces = process.getBuiltinModule('v8').getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size, s.space_used_size]);
  return { ...memory, spaces };
})()`;

/**
 * RSS at rest, read twice: as the process stands, and 2 s after a full collection started
 * through the inspector protocol (as a heap snapshot starts with one).
 */
export async function restingRss(pid: number, inspector: string): Promise<Rss> {
  const idle = rssMiB(pid);
  const socket = new WebSocket(inspector);
  let heap: number;
  let figures: HeapFigures;
  try {
    const call = inspectorCalls(socket);
    await call('HeapProfiler.collectGarbage');
    // Asked once the collection answered: asked together, the heap was read before it ran.
    heap = ((await call('Runtime.getHeapUsage')) as { usedSize: number }).usedSize / MiB;
    const { result } = (await call('Runtime.evaluate', { expression: FIGURES_EXPRESSION, returnByValue: true })) as { result: { value: Record<string, number> & { spaces: Array<[string, number, number]> } } };
    const { spaces, ...memory } = result.value;
    figures = {
      heapTotal: memory.heapTotal! / MiB,
      heapUsed: memory.heapUsed! / MiB,
      external: memory.external! / MiB,
      arrayBuffers: memory.arrayBuffers! / MiB,
      spaces: Object.fromEntries(spaces.map(([name, committed, used]) => [name, { committed: committed / MiB, used: used / MiB }])),
    };
  } finally {
    socket.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  return { idle, collected: rssMiB(pid), heap, figures, pages: residentPages(smaps), allocator: allocatorMapped(smaps) ? 'jemalloc' : 'glibc' };
}

/** Sends inspector protocol calls on one socket, one answer per call id. */
function inspectorCalls(socket: WebSocket): (method: string, params?: object) => Promise<unknown> {
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve());
    socket.addEventListener('error', () => reject(new Error('the inspector failed')));
  });
  const waiting = new Map<number, (result: unknown) => void>();
  socket.addEventListener('message', (event) => {
    const answer = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (answer.id !== undefined) waiting.get(answer.id)?.(answer.result);
  });
  let id = 0;
  return async (method, params = {}) => {
    await opened;
    const callId = ++id;
    return new Promise((resolve) => {
      waiting.set(callId, resolve);
      socket.send(JSON.stringify({ id: callId, method, params }));
    });
  };
}

/** glibc reserves each thread arena as HEAP_MAX_SIZE (64 MiB on 64-bit), aligned to its size. */
const ARENA_SIZE = 64 * MiB;

/**
 * Resident pages by the text of /proc/PID/smaps. A thread arena is an anonymous read-write
 * mapping starting at a 64 MiB boundary whose rest of those 64 MiB is reserved without access.
 */
export function residentPages(smaps: string): ResidentPages {
  const pages: ResidentPages = { files: 0, brkHeap: 0, threadArenas: 0, otherAnonymous: 0 };
  const mappings = smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  const parsed = mappings.map((text) => {
    const [, start, end, perms, path] = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+[ \t]*(.*)$/m.exec(text) ?? [];
    return { start: Number.parseInt(start ?? '0', 16), end: Number.parseInt(end ?? '0', 16), perms: perms ?? '', path: path ?? '', rss: Number(/^Rss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) / 1024 };
  });
  parsed.forEach((mapping, i) => {
    const next = parsed[i + 1];
    if (mapping.path === '[heap]') pages.brkHeap += mapping.rss;
    else if (mapping.path !== '' && !mapping.path.startsWith('[')) pages.files += mapping.rss;
    else if (mapping.path === '' && mapping.perms === 'rw-p' && mapping.start % ARENA_SIZE === 0
      && (mapping.end - mapping.start === ARENA_SIZE || (next?.start === mapping.end && next.perms === '---p' && next.end - mapping.start === ARENA_SIZE))) pages.threadArenas += mapping.rss;
    else pages.otherAnonymous += mapping.rss;
  });
  return pages;
}
