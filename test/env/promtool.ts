/**
 * promtool, Prometheus' own checker, built from the pinned Prometheus module: the tests run
 * `promtool check metrics` on what the sidecar and the operator expose, and `promtool check
 * rules` on the chart dashboard's queries.
 */
import { join } from 'node:path';
import type { Progress } from './component.ts';
import { goBuild, moduleKey, pinned } from './go-build.ts';
import { cacheDir, repoRoot } from './paths.ts';

const promtoolModule = join(repoRoot, 'test', 'env', 'promtool');

/** The Prometheus Go module's version, e.g. `v0.316.0` for Prometheus 3.16.0. */
function moduleVersion(): string {
  return pinned(promtoolModule, 'github.com/prometheus/prometheus');
}

function promtoolBinDir(): string {
  return join(cacheDir(), `promtool-${moduleVersion()}-${moduleKey(promtoolModule)}`, 'bin');
}

export function promtoolPath(): string {
  return join(promtoolBinDir(), 'promtool');
}

/** The Prometheus release: its Go module tags v0.3XX.Y for release 3.XX.Y. */
export function promtoolVersion(): string {
  const [, minor, patch] = /^v0\.3(\d\d)\.(\d+)/.exec(moduleVersion()) ?? [];
  return minor === undefined ? moduleVersion() : `3.${Number(minor)}.${patch}`;
}

export async function ensurePromtool(progress: Progress): Promise<void> {
  await goBuild(progress, {
    moduleDir: promtoolModule,
    packages: ['github.com/prometheus/prometheus/cmd/promtool'],
    binDir: promtoolBinDir(),
    ldflags: [`-X github.com/prometheus/common/version.Version=${promtoolVersion()}`],
    // Without the cloud service discoveries (AWS, Azure, GCE, ...) that only `check config`
    // of such configs would use: a fifth of the packages (1117 instead of 1364), none needed here.
    tags: ['remove_all_sd'],
    what: `promtool ${promtoolVersion()}`,
  });
}
