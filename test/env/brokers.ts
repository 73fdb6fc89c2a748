/**
 * The brokers as a command-line run of the project uses them (`npm run fuzz`, `npm run chaos`):
 * brought up for the run with the environment's own code (started when not up) and released
 * after it, as a test run does.
 */
import type { Component } from './component.ts';
import { kafka, kafkaBrokers } from './kafka.ts';
import { bringUp, release } from './lifecycle.ts';
import { rabbit, rabbitAddress } from './rabbit.ts';

export interface BrokerEnvironment {
  rabbitUrl: string;
  rabbitManagement: { url: string; user: string; password: string };
  kafkaBrokers: string[];
}

/** Runs `run` with the named brokers (`rabbit`, `kafka`; other names are ignored) up. */
export async function withBrokers<T>(names: string[], run: (env: BrokerEnvironment) => Promise<T>): Promise<T> {
  const needed: Component[] = [rabbit, kafka].filter((component) => names.includes(component.name));
  for (const component of needed) await bringUp(component, (line) => console.log(`[env] ${line}`), 'test-run');
  const address = rabbitAddress();
  try {
    return await run({
      rabbitUrl: address.url,
      rabbitManagement: { url: address.managementUrl, user: address.managementUser, password: address.managementPassword },
      kafkaBrokers: kafkaBrokers(),
    });
  } finally {
    for (const component of needed) await release(component);
  }
}
