import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: test/env sits two levels below it. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** State of the running environment: data directories, pid files, keys, kubeconfig. */
export const envDir = join(repoRoot, 'test', '.env');
export const logsDir = join(envDir, 'logs');

/** Downloads and builds survive a fresh clone: they live in the user's cache, not the tree. */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'bindery');
}

export function logFile(component: string): string {
  return join(logsDir, `${component}.log`);
}
