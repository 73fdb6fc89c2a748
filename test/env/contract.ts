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
  /** Path of the pinned `promtool` (Prometheus' checker). */
  promtool: string;
  /** e.g. `v1.35.4`. */
  kubernetesVersion: string;
  /** The kubelet node, when this run has tests that need one (test/e2e). */
  node?: TestNode;
}

/** What pods on the test node need to know of it (test/env/node.ts). */
export interface TestNode {
  name: string;
  /** Pods tolerate this taint to run there; a namespace gives it with PodTolerationRestriction's annotation. */
  taint: { key: string; effect: string };
  /** The Bindery image built from the Dockerfile, in the node's containerd. */
  image: string;
  /** Where pods reach this machine: the environment's brokers answer there (forwarded to loopback). */
  hostAddress: string;
  rabbitPort: number;
  kafkaPort: number;
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
