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

/**
 * NODE_OPTIONS of the injected sidecar: semi-spaces of 1 MB instead of the up to 32 MB Node 24
 * grows them to under load, which were most of the sidecar's RSS; measured at the same CPU
 * (docs/adr/0052-the-sidecar-runs-with-a-small-young-generation.md).
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=1';

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

/** The process environment the webhook gives the injected sidecar besides its settings. */
export const SIDECAR_PROCESS_ENV: Readonly<Record<string, string>> = Object.freeze({
  NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
  LD_PRELOAD: SIDECAR_ALLOCATOR,
  MALLOC_CONF: SIDECAR_ALLOCATOR_CONF,
});

/**
 * The environment for a sidecar started as a child of a process with `inherited`, as the pod
 * starts it: `nodeOptions` come after the NODE_OPTIONS inherited (a bench may replace them).
 */
export function sidecarChildEnv(inherited: NodeJS.ProcessEnv, nodeOptions = SIDECAR_NODE_OPTIONS): NodeJS.ProcessEnv {
  return {
    ...inherited,
    ...SIDECAR_PROCESS_ENV,
    NODE_OPTIONS: [inherited.NODE_OPTIONS, nodeOptions].filter(Boolean).join(' '),
    LD_PRELOAD: [inherited.LD_PRELOAD, SIDECAR_ALLOCATOR].filter(Boolean).join(':'),
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
