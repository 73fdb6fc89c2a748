import { existsSync, rmSync, writeFileSync } from 'node:fs';
import type { Progress } from './component.ts';
import { run } from './process.ts';

const policyFile = '/usr/sbin/policy-rc.d';

/**
 * Installs Debian packages without questions. Package scripts must not start the system's
 * own service (it would take the ports our node uses), so service starts are refused while
 * apt runs, the way container images do it.
 */
export function aptInstall(packages: string[], progress: Progress, logPath: string): Promise<void> {
  // One at a time: components install side by side, and the policy file must outlive each install.
  const next = installing.then(() => install(packages, progress, logPath));
  installing = next.catch(() => undefined);
  return next;
}

let installing: Promise<unknown> = Promise.resolve();

async function install(packages: string[], progress: Progress, logPath: string): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const command = (args: string[]): { command: string; args: string[] } =>
    sudo.length === 0 ? { command: args[0]!, args: args.slice(1) } : { command: sudo[0]!, args: [...sudo.slice(1), ...args] };
  const addedPolicy = !existsSync(policyFile) && sudo.length === 0;
  if (addedPolicy) writeFileSync(policyFile, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    progress(`apt-get update (for ${packages.join(', ')})...`);
    // Another process's apt (another checkout's environment) is waited for, not failed on.
    const wait = ['-o', 'DPkg::Lock::Timeout=600'];
    await run({ ...command(['apt-get', ...wait, 'update']), env, logPath, progress, label: 'apt-get update' });
    progress(`apt-get install ${packages.join(' ')}...`);
    await run({
      ...command(['apt-get', ...wait, 'install', '-y', '--no-install-recommends', ...packages]),
      env, logPath, progress, label: `apt-get install ${packages.join(' ')}`,
    });
  } finally {
    if (addedPolicy) rmSync(policyFile, { force: true });
  }
}
