/**
 * What the vitest global setup hands to test files (through `provide`/`inject`). Tests read
 * it with `testEnv()` from test/support/env.ts.
 */
export interface TestEnvironment {
  /** amqp:// URL with credentials (guest/guest on our own node). */
  rabbitUrl: string;
  /** http:// base of the management API, without credentials and without `/api`. */
  rabbitManagementUrl: string;
  rabbitManagementUser: string;
  rabbitManagementPassword: string;
  /** host:port of each bootstrap broker. */
  kafkaBrokers: string[];
  /** Path of a kubeconfig with cluster-admin rights. */
  kubeconfig: string;
  /** Paths of the pinned `kubectl` and `helm` binaries. */
  kubectl: string;
  helm: string;
  /** e.g. `v1.35.4`. */
  kubernetesVersion: string;
}

/** Which components came from outside (RABBIT_URL, KAFKA_BROKERS, KUBECONFIG): tests may not stop those. */
export interface ExternalComponents {
  rabbit: boolean;
  kafka: boolean;
  kubernetes: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    binderyEnv: TestEnvironment;
    binderyExternal: ExternalComponents;
  }
}
