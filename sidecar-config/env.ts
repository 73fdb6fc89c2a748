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
