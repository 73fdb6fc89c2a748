/**
 * The sidecar's allocator on this machine: Debian's libjemalloc2, the package the image installs
 * (docs/adr/0059-the-sidecar-allocates-with-jemalloc.md). Sidecars the tests, the fuzz run and
 * the benches start preload it as a pod's does (sidecar-config/env.ts), so that what they measure
 * is what the pod runs; the test image's Node.js base copies it from here.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SIDECAR_ALLOCATOR } from '../../sidecar-config/env.ts';
import { aptInstall } from './apt.ts';
import type { Progress } from './component.ts';
import { logFile } from './paths.ts';

const libraryRoot = '/usr/lib';

/** Where Debian put the library (`/usr/lib/<multiarch triplet>/libjemalloc.so.2`), if it is installed. */
export function allocatorLibrary(): string | undefined {
  const triplets = existsSync(libraryRoot) ? readdirSync(libraryRoot).filter((name) => name.endsWith('-linux-gnu')) : [];
  return triplets.map((triplet) => join(libraryRoot, triplet, SIDECAR_ALLOCATOR)).find((path) => existsSync(path));
}

/** Whether a process's /proc/PID/maps (or smaps) text shows the preloaded allocator mapped: a loader that cannot find it only warns. */
export function allocatorMapped(maps: string): boolean {
  return maps.includes(`/${SIDECAR_ALLOCATOR}`);
}

/** Installs libjemalloc2 when it is missing; the path of the library. */
export async function ensureAllocator(progress: Progress): Promise<string> {
  const installed = allocatorLibrary();
  if (installed !== undefined) return installed;
  await aptInstall(['libjemalloc2'], progress, logFile('install'));
  const library = allocatorLibrary();
  if (library === undefined) throw new Error(`libjemalloc2 was installed, but no ${libraryRoot}/*-linux-gnu/${SIDECAR_ALLOCATOR} is there`);
  return library;
}
