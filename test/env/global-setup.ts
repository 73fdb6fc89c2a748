/**
 * vitest globalSetup: brings every component up once per run (reusing what is already up),
 * hands the addresses to the tests, and at the end stops only what this run started. The
 * node only comes up for runs with tests that need it (test/e2e): one checkout per machine
 * can run it.
 */
import type { TestProject } from 'vitest/node';
import type { Component } from './component.ts';
import { components } from './components.ts';
import { node } from './node.ts';
import type { TestEnvironment } from './contract.ts';
import { bringUp, release, type Outcome } from './lifecycle.ts';
import { ensureAllocator } from './allocator.ts';
import { testEnvironment, externalComponents } from './addresses.ts';

/**
 * The integration tiers are two vitest projects (vitest.config.ts) that set up in one
 * process: the environment comes up once, both get its addresses, and the last one to end
 * releases it.
 */
interface Environment {
  environment: TestEnvironment;
  external: ReturnType<typeof externalComponents>;
  /** What this process brought up or reuses, released at the end. */
  used: Component[];
}
interface SharedSetup {
  ready: Promise<Environment>;
  users: number;
}
const shared = globalThis as { binderyEnvSetup?: SharedSetup };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const setupOnce = (shared.binderyEnvSetup ??= { ready: bringEverythingUp(project), users: 0 });
  setupOnce.users++;
  const { environment, external, used } = await setupOnce.ready;
  project.provide('binderyEnv', environment);
  project.provide('binderyExternal', external);
  return async () => {
    if (--setupOnce.users > 0) return;
    shared.binderyEnvSetup = undefined;
    for (const component of [...used].reverse()) {
      if (await release(component)) console.log(`[env] ${component.name}: stopped (this run started it)`);
    }
  };
}

async function bringEverythingUp(project: TestProject): Promise<Environment> {
  const started = Date.now();
  const progress = (line: string): void => console.log(`[env] ${line}`);
  const used: Component[] = [];
  const withNode = await runNeedsNode(project);
  // The fuzz test starts its sidecars as a pod's, on jemalloc (docs/adr/0059).
  await ensureAllocator(progress);
  const wanted = components.filter((component) => component !== node || withNode);
  const results = await Promise.allSettled(wanted.map(async (component) => {
    try {
      const outcome: Outcome = await bringUp(component, progress, 'test-run');
      used.push(component);
      const status = await component.status();
      progress(`${component.name}: ${outcome}, ${status.version} at ${status.address}`);
    } catch (error) {
      progress(`${component.name}: FAILED (the others may still be starting)`);
      throw error;
    }
  }));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    await Promise.allSettled(used.map((component) => release(component)));
    throw new Error(failures.map((f) => (f instanceof Error ? f.message : String(f))).join('\n'));
  }
  progress(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { environment: await testEnvironment(withNode), external: externalComponents(), used };
}

/** Whether the files this run selected include one under test/e2e/ (they run pods on the node). */
async function runNeedsNode(project: TestProject): Promise<boolean> {
  const filters = (project.vitest as { filenamePattern?: string[] }).filenamePattern;
  const specifications = await project.vitest.globTestSpecifications(filters);
  return specifications.some((specification) => specification.moduleId.includes('/test/e2e/'));
}
