import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Component, Progress } from './component.ts';
import { envDir } from './paths.ts';
import { isAlive, readPid, signalGroup, withLock } from './process.ts';

export type Outcome = 'external' | 'reused' | 'started';

/**
 * Who started a running component: `npm run env -- up` keeps what it starts; a test run
 * stops what it started when it ends, unless another test run still uses it.
 */
interface Ownership {
  startedBy: 'env-up' | 'test-run';
  /** Processes (test runs) currently using the component. */
  users: number[];
}

const ownershipDir = join(envDir, 'owners');

function ownershipPath(name: string): string {
  return join(ownershipDir, `${name}.json`);
}

function readOwnership(name: string): Ownership | undefined {
  try {
    return JSON.parse(readFileSync(ownershipPath(name), 'utf8')) as Ownership;
  } catch {
    return undefined;
  }
}

function writeOwnership(name: string, ownership: Ownership | undefined): void {
  mkdirSync(ownershipDir, { recursive: true });
  if (ownership === undefined) rmSync(ownershipPath(name), { force: true });
  else writeFileSync(ownershipPath(name), JSON.stringify(ownership));
}

export async function bringUp(component: Component, progress: Progress, by: Ownership['startedBy']): Promise<Outcome> {
  const external = component.external();
  if (external) {
    await component.ensureClients?.(progress);
    if (!(await component.isUp())) {
      throw new Error(`${component.name}: ${external} is set, but nothing answers there`);
    }
    return 'external';
  }
  return withLock(component.name, async () => {
    const owner = readOwnership(component.name);
    const users = (owner?.users ?? []).filter(isAlive);
    if (by === 'test-run') users.push(process.pid);
    if (await component.isUp()) {
      // `env up` adopts what a test run started, so that the run's end no longer stops it.
      const startedBy = by === 'env-up' ? 'env-up' : owner?.startedBy ?? 'env-up';
      writeOwnership(component.name, { startedBy, users });
      return 'reused';
    }
    await component.ensureInstalled(progress);
    await component.start(progress);
    // Brought back to date (a new image, changed flags) under `env up`'s ownership, it stays up.
    writeOwnership(component.name, { startedBy: by === 'env-up' ? 'env-up' : owner?.startedBy ?? by, users });
    return 'started';
  });
}

/**
 * The end of a test run: stops the component when a test run started it and no other run
 * still uses it. Returns whether it stopped it.
 */
export async function release(component: Component): Promise<boolean> {
  if (component.external()) return false;
  return withLock(component.name, async () => {
    const owner = readOwnership(component.name);
    if (owner === undefined) return false;
    const users = owner.users.filter((pid) => pid !== process.pid && isAlive(pid));
    if (owner.startedBy === 'test-run' && users.length === 0) {
      await component.stop();
      writeOwnership(component.name, undefined);
      return true;
    }
    writeOwnership(component.name, { ...owner, users });
    return false;
  });
}

export async function takeDown(component: Component): Promise<boolean> {
  if (component.external()) return false;
  return withLock(component.name, async () => {
    await component.stop();
    writeOwnership(component.name, undefined);
    return true;
  });
}

/** Refuses a broker this environment does not own: faults are injected only into our own processes. */
function own(component: Component): Component {
  const external = component.external();
  if (external) throw new Error(`${component.name} is given through ${external}: this environment cannot stop, start or kill it`);
  return component;
}

/** Stops the component's process gracefully; its data stays on disk. */
export async function stopComponent(component: Component): Promise<void> {
  await withLock(component.name, () => own(component).stop());
}

/** Starts the component again on the same data, unless it is up; resolves once it answers. */
export async function startComponent(component: Component): Promise<void> {
  await withLock(component.name, async () => {
    if (!(await own(component).isUp())) await component.start(() => {});
  });
}

/**
 * Freezes the component's processes (SIGSTOP) for `ms`, then lets them go on (SIGCONT):
 * connections stay open and requests wait unanswered, as behind a long GC pause or a full disk.
 */
export async function freezeComponent(component: Component, ms: number): Promise<void> {
  await withLock(component.name, async () => {
    own(component);
    const pid = readPid(component.name);
    if (pid === undefined) throw new Error(`${component.name} is not running in this environment`);
    signalGroup(pid, 'SIGSTOP');
    try {
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      signalGroup(pid, 'SIGCONT');
    }
  });
}

/** `kill -9` of the component's process: what it had not written yet is lost, as in a crash. */
export async function killComponent(component: Component): Promise<void> {
  await withLock(component.name, async () => {
    const broker = own(component);
    if (!broker.kill) throw new Error(`${component.name} cannot be killed`);
    await broker.kill();
  });
}
