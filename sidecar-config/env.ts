import { quantityBytes } from './quantity.ts';

/**
 * The sidecar's environment: the webhook sets these variables on the injected container and
 * the sidecar's loader reads them, both by these names.
 */
export const SIDECAR_ENV = Object.freeze({
  /** The config file (`--config`). */
  config: 'BINDERY_CONFIG',
  /** Comma-separated names of the bindings this pod uses (`--bindings`). */
  bindings: 'BINDERY_BINDINGS',
  /** The app's port, where inputs are pushed (`--app-port`). */
  appPort: 'BINDERY_APP_PORT',
  /** Partitioned inputs: this pod's index and the number of pods. */
  instanceIndex: 'BINDERY_INSTANCE_INDEX',
  instanceCount: 'BINDERY_INSTANCE_COUNT',
  logLevel: 'BINDERY_LOG_LEVEL',
  /** How long after SIGTERM the sidecar ends at the latest (`--shutdown-timeout`). */
  shutdownTimeout: 'BINDERY_SHUTDOWN_TIMEOUT',
});

/** The injected sidecar's memory limit unless the chart's `sidecar.resources` sets another. */
export const SIDECAR_MEMORY_LIMIT = '256Mi';

/**
 * V8's old space as a share of the sidecar container's memory limit. Node gives V8 the limit of
 * its cgroup, and V8 then lets garbage fill an old space as large as the whole limit before it
 * collects: under the fuzz run's Kafka storm a 256Mi sidecar was OOM-killed at 254 MB anonymous
 * memory with a live heap of ~32 MB. With 96 MB (this share of 256Mi) the same run peaked at 173 MiB
 * (docs/adr/0061-the-sidecar-heap-follows-its-memory-limit.md).
 */
export const OLD_SPACE_SHARE_OF_LIMIT = 0.375;

/**
 * NODE_OPTIONS of the injected sidecar: semi-spaces of 1 MB instead of the up to 32 MB Node 24
 * grows them to under load, which were most of the sidecar's RSS; measured at the same CPU
 * (docs/adr/0052-the-sidecar-runs-with-a-small-young-generation.md); and, with a memory limit,
 * an old space of OLD_SPACE_SHARE_OF_LIMIT of it (an absolute size: Node 20 refuses a percentage
 * in NODE_OPTIONS).
 */
export function sidecarNodeOptions(memoryLimit: string | undefined): string {
  const bytes = memoryLimit === undefined ? undefined : quantityBytes(memoryLimit);
  const oldSpace = bytes === undefined ? '' : ` --max-old-space-size=${Math.max(16, Math.floor((bytes * OLD_SPACE_SHARE_OF_LIMIT) / 2 ** 20))}`;
  return `--max-semi-space-size=1${oldSpace}`;
}

/** The NODE_OPTIONS of a sidecar with the default memory limit. */
export const SIDECAR_NODE_OPTIONS = sidecarNodeOptions(SIDECAR_MEMORY_LIMIT);

/**
 * The sidecar's allocator: jemalloc, preloaded by its file name so that the dynamic loader finds
 * it in the library path of any Debian architecture (the image installs Debian's libjemalloc2).
 * glibc's malloc kept the freed small and mid-sized blocks of a long run resident in its main
 * heap: the fuzz run's 100 000 requests grew the sidecar's RSS by about 30 % with the V8 heap
 * flat; jemalloc gives such pages back (docs/adr/0059-the-sidecar-allocates-with-jemalloc.md).
 */
export const SIDECAR_ALLOCATOR = 'libjemalloc.so.2';

/**
 * jemalloc's settings: a thread of its own purges unused pages of an idle sidecar (else it
 * purges only as it allocates), and pages unused for 1 s are returned rather than after 10 s.
 */
export const SIDECAR_ALLOCATOR_CONF = 'background_thread:true,dirty_decay_ms:1000';

/** The process environment the webhook gives an injected sidecar with `memoryLimit` besides its settings. */
export function sidecarProcessEnv(memoryLimit: string | undefined): Record<string, string> {
  return { NODE_OPTIONS: sidecarNodeOptions(memoryLimit), LD_PRELOAD: SIDECAR_ALLOCATOR, MALLOC_CONF: SIDECAR_ALLOCATOR_CONF };
}

/**
 * The environment for a sidecar started as a child of a process with `inherited`, as the pod
 * starts it: `nodeOptions` come after the NODE_OPTIONS inherited (a bench may replace them), the
 * allocator before any library LD_PRELOAD already names.
 */
export function sidecarChildEnv(inherited: NodeJS.ProcessEnv, nodeOptions = SIDECAR_NODE_OPTIONS): NodeJS.ProcessEnv {
  return {
    ...inherited,
    ...sidecarProcessEnv(SIDECAR_MEMORY_LIMIT),
    NODE_OPTIONS: [inherited.NODE_OPTIONS, nodeOptions].filter(Boolean).join(' '),
    // The allocator first: of two libraries that define malloc, the first one preloaded serves it.
    LD_PRELOAD: [SIDECAR_ALLOCATOR, inherited.LD_PRELOAD].filter(Boolean).join(':'),
  };
}

export type CredentialPart = 'USERNAME' | 'PASSWORD';

/**
 * Where a binder's credentials reach the sidecar: `default-rabbit` ->
 * `BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD`. The rendered file refers to it, the webhook fills
 * it from the Binder's Secret; credentials are never written into the file itself.
 */
export function binderEnvVarName(binderName: string, part: CredentialPart): string {
  return `BINDERY_BINDER_${binderName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${part}`;
}

/** `${BINDERY_BINDER_<NAME>_<PART>}`, expanded by the sidecar's loader. */
export function binderEnvReference(binderName: string, part: CredentialPart): string {
  return `\${${binderEnvVarName(binderName, part)}}`;
}
