/** What the Spring interop suites share: a Spring service and a sidecar facing each other on one broker. */
import { afterAll, beforeAll } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { SpringApp } from '../../support/spring-app.ts';
import { waitFor } from '../../support/wait.ts';
import type { rawKafka } from '../kafka/support.ts';
import { PushTarget, sidecarFrom } from '../runtime/support.ts';

export type BrokerType = 'rabbit' | 'kafka';

/** The `binders:` entry of a sidecar's bindery.yaml for the test environment's broker. */
export const binderYaml: Record<BrokerType, () => string> = {
  rabbit: () => `rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } }`,
  kafka: () => `kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } }`,
};

export interface SpringPair {
  spring: SpringApp;
  sidecar: RunningSidecar;
  /** The app the sidecar pushes to. */
  app: PushTarget;
  /** The destination the sidecar's `output` sends to and Spring's `receive` function reads, in its group. */
  toSpring: string;
  /** The destination Spring's `out` binding sends to and the sidecar's `input` reads, in its group. */
  toBindery: string;
}

/**
 * Registers hooks that start a Spring service (`name`) and a sidecar on `binder`, one
 * destination each way with a group on the receiving side, and stop them after the suite.
 * The returned object is filled in once the hooks ran.
 */
export function springPair(name: string, binder: BrokerType, prefix: string, raw: ReturnType<typeof rawKafka>): SpringPair {
  const toSpring = `${prefix}-${binder}-to-spring`;
  const toBindery = `${prefix}-${binder}-to-bindery`;
  const [springGroup, binderyGroup] = [`${prefix}-spring`, `${prefix}-bindery`];
  const running = { toSpring, toBindery } as SpringPair;

  beforeAll(async () => {
    raw.track({ topics: [toSpring, toBindery], groups: [springGroup, binderyGroup] });
    running.app = await PushTarget.start();
    [running.spring, running.sidecar] = await Promise.all([
      SpringApp.start({
        name: `${name}-${binder}`,
        binder,
        properties: {
          'spring.cloud.function.definition': 'receive',
          'spring.cloud.stream.bindings.receive-in-0.destination': toSpring,
          'spring.cloud.stream.bindings.receive-in-0.group': springGroup,
          'spring.cloud.stream.bindings.out.destination': toBindery,
        },
      }),
      sidecarFrom(`binders: { ${binderYaml[binder]()} }
bindings:
  output: { direction: output, destination: ${toSpring} }
  input: { direction: input, destination: ${toBindery}, group: ${binderyGroup} }
app: { port: ${running.app.port} }`),
    ]);
    await waitFor('the sidecar input to consume', () => running.sidecar.sidecar.bindings().find((b) => b.name === 'input')?.consuming === true, 30_000);
  }, 120_000);

  afterAll(async () => {
    await running.spring?.stop();
    await running.sidecar?.close();
    await running.app?.close();
  });
  return running;
}
