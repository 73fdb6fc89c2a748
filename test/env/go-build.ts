/**
 * Builds of Go commands from modules pinned under test/env (Kubernetes, helm, CoreDNS,
 * promtool): one `go build` per cache directory, shared by every checkout of the machine.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Progress } from './component.ts';
import { cacheDir, logFile } from './paths.ts';
import { run, withLock } from './process.ts';

/** The version a module pins for `dependency`, read from its go.mod: the one place it is written. */
export function pinned(moduleDir: string, dependency: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const match = new RegExp(`^\\s*(?:require\\s+)?${dependency.replaceAll('.', '\\.')}\\s+(v\\S+)`, 'm').exec(goMod);
  if (!match?.[1]) throw new Error(`${dependency} is not required in ${moduleDir}/go.mod`);
  return match[1];
}

/**
 * Cache directories are named after go.mod and go.sum: a change of any dependency builds
 * afresh instead of reusing binaries of other versions.
 */
export function moduleKey(moduleDir: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(moduleDir, file)));
  return hash.digest('hex').slice(0, 12);
}

function goCommand(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  }
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('the Go toolchain (go 1.26.7 or newer) builds the Kubernetes binaries, helm and promtool of the test environment; `go` is not on PATH');
}

export interface GoBuild {
  moduleDir: string;
  packages: string[];
  /** Where the binaries go; it appears complete or not at all. */
  binDir: string;
  ldflags: string[];
  /** Build tags, e.g. to leave out optional parts a test never uses. */
  tags?: string[];
  /** Binary names to change after the build: Go names `.../server/v3` `server`. */
  renames?: Record<string, string>;
  what: string;
}

export async function goBuild(progress: Progress, build: GoBuild): Promise<void> {
  if (existsSync(build.binDir)) return;
  // Checkouts share the cache: one builds while the others wait for it.
  await withLock(`build-${basename(dirname(build.binDir))}`, async () => {
    if (!existsSync(build.binDir)) await goBuildUnlocked(progress, build);
  }, { dir: cacheDir() });
}

async function goBuildUnlocked(progress: Progress, build: GoBuild): Promise<void> {
  const partial = `${build.binDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  progress(`building ${build.what} with go build (cold: minutes to tens of minutes on 2 cores)...`);
  const started = Date.now();
  await run({
    command: goCommand(),
    args: [
      'build', '-trimpath', `-ldflags=${['-s', '-w', ...build.ldflags].join(' ')}`,
      ...(build.tags?.length ? [`-tags=${build.tags.join(',')}`] : []),
      '-o', `${partial}/`, ...build.packages,
    ],
    cwd: build.moduleDir,
    // The toolchain on the machine builds; a go.mod never triggers a toolchain download.
    env: { ...process.env, GOTOOLCHAIN: 'local' },
    logPath: logFile('build'), progress, label: `go build ${build.what}`,
  });
  for (const [from, to] of Object.entries(build.renames ?? {})) renameSync(join(partial, from), join(partial, to));
  renameSync(partial, build.binDir);
  progress(`built ${build.what} in ${Math.round((Date.now() - started) / 1000)} s`);
}
