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

/**
 * Shifts every port of the environment (BINDERY_ENV_PORT_OFFSET), so that a second checkout
 * can run its own environment beside the first one.
 */
export function envPort(base: number, env: NodeJS.ProcessEnv = process.env): number {
  const given = env.BINDERY_ENV_PORT_OFFSET || '0';
  const offset = /^\d+$/.test(given) ? Number(given) : Number.NaN;
  if (!(offset <= 20_000)) {
    throw new Error(`BINDERY_ENV_PORT_OFFSET must be a whole number from 0 to 20000, not "${given}"`);
  }
  return base + offset;
}

export function logFile(component: string): string {
  return join(logsDir, `${component}.log`);
}
