/** `bindery <command>` as a child process of a test: its output collected, its exit awaited. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BINDERY = fileURLToPath(new URL('../../bin/bindery', import.meta.url));

export interface BinderyProcess {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output: () => string;
  exit: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

export function startBindery(args: string[], env: Record<string, string> = {}): BinderyProcess {
  const child = spawn(process.execPath, [BINDERY, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exit,
    stop: () => {
      child.kill('SIGTERM');
      return exit;
    },
  };
}
