/**
 * Commands that measure a sidecar they spawn (the benches, the fuzz run) run on the Node.js the
 * image ships, whatever Node started them: the sidecar is spawned with process.execPath, and the
 * Node version alone moves CPU and memory figures (Node 24 roughly halves the send overhead of
 * Node 20). Started on another Node, such a command starts its own file again on that one.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { imageNodeDir, nodeWheelVersion } from './node-images.ts';

/**
 * The node binary to run on, or undefined when that is the one running now. `variable` names
 * the override: `current` keeps the Node that started the command, a path names another binary.
 */
export async function imageNodeToRunOn(variable: string, log: (line: string) => void): Promise<string | undefined> {
  const chosen = process.env[variable];
  if (chosen === 'current' || chosen === process.execPath) return undefined;
  if (chosen !== undefined && chosen !== '') return chosen;
  if (process.version === `v${nodeWheelVersion}`) return undefined;
  return `${await imageNodeDir(log)}/bin/node`;
}

/** Runs `file` again on `node` (through tsx, as npm runs it) with `argv`; its exit code. */
export async function rerunOn(node: string, file: string, argv: string[], variable: string, log: (line: string) => void): Promise<number> {
  log(`running on the image's Node.js ${nodeWheelVersion} (${node}), not on this ${process.version}; ${variable}=current keeps this one`);
  const child = spawn(node, ['--import', import.meta.resolve('tsx'), file, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [variable]: 'current' },
  });
  // A stopped command stops its run on the other Node too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    // Killed by a signal: the shell's convention, 128 + its number.
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
