/**
 * `bindery runtime` as a real process, for what only a process shows: signals, exit codes,
 * what it prints, and whether it is still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

const root = join(import.meta.dirname, '../..');

/** Output kept in memory: the last this many characters (a long fuzz run logs a lot). */
const KEPT_OUTPUT = 256 * 1024;

export interface RuntimeProcess {
  child: ChildProcess;
  /** stdout and stderr so far (the last 256 KiB). */
  output: () => string;
  exit: Promise<number | null>;
  /** Set once the process exited. */
  exited: () => boolean;
}

/**
 * Starts `bindery runtime`; with `cgroupProcs`, inside the cgroup whose `cgroup.procs` file that
 * is, joined before Node starts (Node reads its memory limit once, at start).
 */
export function runtimeProcess(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = [], cgroupProcs?: string): RuntimeProcess {
  const command = [process.execPath, ...nodeArgs, 'bin/bindery', 'runtime', ...args];
  const options = { cwd: root, env: { ...process.env, ...env } };
  // The shell moves itself into the cgroup and becomes node: the pid stays the same.
  const child = cgroupProcs === undefined
    ? spawn(command[0]!, command.slice(1), options)
    : spawn('/bin/sh', ['-c', 'echo $$ > "$1" || { echo "cannot join the cgroup of $1" >&2; exit 126; }; shift; exec "$@"', 'sh', cgroupProcs, ...command], options);
  let output = '';
  let exited = false;
  const keep = (c: Buffer): void => {
    output += c.toString();
    if (output.length > 2 * KEPT_OUTPUT) output = output.slice(-KEPT_OUTPUT);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
  return { child, output: () => output, exit, exited: () => exited };
}

/** Config files in temporary directories, removed by `removeAll`. */
export class ConfigFiles {
  private readonly dirs: string[] = [];

  async write(text: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'bindery-'));
    this.dirs.push(dir);
    const file = join(dir, 'bindery.yaml');
    await writeFile(file, text);
    return file;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves once the process's ops port answers 200 on `/readyz` (binders connected) or `/healthz` (serving at all). */
export async function processAnswers(run: RuntimeProcess, opsPort: number, probe: 'readyz' | 'healthz' = 'readyz', timeoutMs = 30_000): Promise<void> {
  let last = 'no answer yet';
  try {
    await waitFor(probe, async () => {
      if (run.exited()) throw new Error(`the runtime exited: ${run.output()}`);
      try {
        const response = await fetch(`http://127.0.0.1:${opsPort}/${probe}`);
        if (response.status === 200) return true;
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = `no connection (${(error as Error).message})`;
      }
      return false;
    }, { timeoutMs, errors: 'throw' });
  } catch (error) {
    if (run.exited()) throw error;
    // A timeout says what the probe last answered and what the process printed until then.
    throw new Error(`${(error as Error).message}; last answer: ${last}; output: ${run.output()}`, { cause: error });
  }
}

/** The exit code, or `'running'` when the process did not exit within `ms`. */
export async function exitWithin(run: RuntimeProcess, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), ms)));
  try {
    return await Promise.race([run.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The inspector's address that a process started with `--inspect=127.0.0.1:0` printed first. */
export function inspectorUrl(run: RuntimeProcess): string {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(run.output())?.[1];
  if (url === undefined) throw new Error('the process has no inspector (start it with --inspect=127.0.0.1:0)');
  return url;
}
