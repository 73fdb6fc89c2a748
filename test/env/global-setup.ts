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
import './contract.ts';
import { bringUp, release, type Outcome } from './lifecycle.ts';
import { testEnvironment, externalComponents } from './addresses.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const progress = (line: string): void => console.log(`[env] ${line}`);
  const used: Component[] = [];
  const withNode = await runNeedsNode(project);
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
  project.provide('binderyEnv', await testEnvironment(withNode));
  project.provide('binderyExternal', externalComponents());

  return async () => {
    for (const component of [...used].reverse()) {
      if (await release(component)) progress(`${component.name}: stopped (this run started it)`);
    }
  };
}

/** Whether the files this run selected include one under test/e2e/ (they run pods on the node). */
async function runNeedsNode(project: TestProject): Promise<boolean> {
  const filters = (project.vitest as { filenamePattern?: string[] }).filenamePattern;
  const specifications = await project.vitest.globTestSpecifications(filters);
  return specifications.some((specification) => specification.moduleId.includes('/test/e2e/'));
}
