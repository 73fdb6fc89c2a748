/**
 * The pod's memory limit around the fuzz run's sidecar. The webhook gives the sidecar a memory
 * limit (256Mi by default), and Node sizes V8's heap by the limit of its cgroup
 * (`process.constrainedMemory()`): without one, on this machine's 24 GiB, V8 left an idle
 * sidecar holding up to 1.1 GiB of garbage it saw no reason to collect. The sidecar runs in a
 * memory cgroup of its own with the pod's limit where the machine lets the run make one (root,
 * cgroup v1 or v2), so that its heap is sized as in a pod and an OOM kill is a crash the run counts.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIDECAR_MEMORY_LIMIT } from '../../sidecar-config/env.ts';
import { quantityBytes } from '../../sidecar-config/quantity.ts';

export interface PodMemory {
  /** The limit, in bytes. */
  limit: number;
  /** A process that writes its pid here moves into the cgroup. */
  procsFile: string;
  /** How the limit is held, for the report. */
  description: string;
  /** The most memory the cgroup held so far (pages of the sidecar's process, cache included), in bytes. */
  peak: () => number;
  /** Removes the cgroup (once its processes exited). */
  remove: () => void;
}

/** A memory cgroup for one sidecar with the webhook's default limit, under this process's own; or why none can be made. */
export function podMemory(name: string): PodMemory | { unavailable: string } {
  const limit = quantityBytes(SIDECAR_MEMORY_LIMIT)!;
  const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = lines.map((line) => /^\d+:([^:]*):(.*)$/.exec(line)).find((m) => m?.[1]?.split(',').includes('memory'));
  const v2 = lines.map((line) => /^0::(.*)$/.exec(line)).find(Boolean);
  const [parent, limitFile, peakFile, version] = v1 && existsSync('/sys/fs/cgroup/memory')
    ? [join('/sys/fs/cgroup/memory', v1[2]!), 'memory.limit_in_bytes', 'memory.max_usage_in_bytes', 'v1']
    : v2 && existsSync('/sys/fs/cgroup/cgroup.controllers') ? [join('/sys/fs/cgroup', v2[1]!), 'memory.max', 'memory.peak', 'v2'] : [];
  if (parent === undefined) return { unavailable: 'no memory cgroup hierarchy' };
  const dir = join(parent, name);
  try {
    mkdirSync(dir);
  } catch (error) {
    return { unavailable: `cannot make a memory cgroup under ${parent}: ${(error as Error).message}` };
  }
  try {
    // v2 gives a child memory.max only where the parent delegates the memory controller.
    if (!existsSync(join(dir, limitFile!))) throw new Error(`no ${limitFile}: the memory controller is not delegated to ${parent}`);
    writeFileSync(join(dir, limitFile!), String(limit));
  } catch (error) {
    rmdirSync(dir);
    return { unavailable: `cannot limit a memory cgroup under ${parent}: ${(error as Error).message}` };
  }
  return {
    limit,
    procsFile: join(dir, 'cgroup.procs'),
    description: `${limit / 2 ** 20} MiB, the pod's (a memory cgroup ${version} of its own)`,
    peak: () => {
      try {
        return Number(readFileSync(join(dir, peakFile!), 'utf8'));
      } catch {
        return Number.NaN;
      }
    },
    remove: () => {
      try { rmdirSync(dir); } catch { /* still in use: left for the system */ }
    },
  };
}
