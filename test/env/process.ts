import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ComponentStartError, type Progress } from './component.ts';
import { envDir } from './paths.ts';

const pidDir = join(envDir, 'pids');

export interface DetachedSpec {
  /** Names the pid file: test/.env/pids/<name>.pid. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logPath: string;
}

/**
 * Starts a server in its own process group with output appended to its log, and returns at
 * once: the server outlives the command that started it, and `down` finds it by its pid file.
 */
export function startDetached(spec: DetachedSpec): number {
  mkdirSync(dirname(spec.logPath), { recursive: true });
  mkdirSync(pidDir, { recursive: true });
  const log = openSync(spec.logPath, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) throw new Error(`could not run ${spec.command}`);
    child.unref();
    writeFileSync(pidFile(spec.name), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

function pidFile(name: string): string {
  return join(pidDir, `${name}.pid`);
}

export function readPid(name: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile(name), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0; it is gone for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Stops the process group recorded in the pid file: SIGTERM first so servers flush and close
 * cleanly, SIGKILL when they do not exit in time. A grace of 0 is `kill -9` at once, as a
 * crash would stop it.
 */
export async function stopByPidFile(name: string, graceMs = 20_000): Promise<boolean> {
  const pid = readPid(name);
  if (pid === undefined) return false;
  const wasAlive = isAlive(pid);
  if (wasAlive) {
    if (graceMs > 0) signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (graceMs > 0 && isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) {
      signalGroup(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(50);
    }
  }
  // Helpers forked by the server (Erlang's port programs, a JVM's children) share its group.
  signalGroup(pid, 'SIGKILL');
  rmSync(pidFile(name), { force: true });
  return wasAlive;
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function logTail(path: string, lines = 25): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    // Erlang prints whole terms on one line; keep the start of each, which names the error.
    return text.trimEnd().split('\n').slice(-lines)
      .map((line) => (line.length > 600 ? `${line.slice(0, 600)} [...]` : line)).join('\n');
  } catch {
    return '(no log written)';
  }
}

export interface WaitSpec {
  component: string;
  what: string;
  logPath: string;
  timeoutMs: number;
  /** The server's pid: when it exits while we wait, fail at once instead of timing out. */
  pid?: number;
  ready: () => Promise<boolean>;
}

export async function waitUntilReady(spec: WaitSpec): Promise<void> {
  const deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    if (await spec.ready().catch(() => false)) return;
    if (spec.pid !== undefined && !isAlive(spec.pid)) {
      throw new ComponentStartError(spec.component, `the process exited before ${spec.what}`,
        spec.logPath, await logTail(spec.logPath));
    }
    if (Date.now() > deadline) {
      throw new ComponentStartError(spec.component,
        `${spec.what} did not happen within ${Math.round(spec.timeoutMs / 1000)} s`,
        spec.logPath, await logTail(spec.logPath));
    }
    await sleep(250);
  }
}

export interface RunSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output goes here (appended) instead of being kept in memory. */
  logPath?: string;
  /** For long steps: a line every so often, so a person knows it is still working. */
  progress?: Progress;
  label?: string;
}

/** Runs a command to completion; on failure the error carries the end of its output. */
export async function run(spec: RunSpec): Promise<string> {
  const label = spec.label ?? `${spec.command} ${spec.args.join(' ')}`;
  let output = '';
  if (spec.logPath) mkdirSync(dirname(spec.logPath), { recursive: true });
  const log = spec.logPath ? openSync(spec.logPath, 'a') : undefined;
  const started = Date.now();
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer): void => {
    if (log !== undefined) writeFileSync(log, chunk);
    output = (output + chunk.toString('utf8')).slice(-64_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const ticker = spec.progress
    ? setInterval(() => spec.progress?.(`  ... ${label}: ${Math.round((Date.now() - started) / 1000)} s`), 30_000)
    : undefined;
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (status) => resolve(status ?? 1));
    });
    if (code !== 0) {
      const tail = output.trimEnd().split('\n').slice(-25).join('\n');
      throw new Error(`${label} exited with ${code}${spec.logPath ? ` (log: ${spec.logPath})` : ''}\n${tail}`);
    }
    return output;
  } finally {
    if (ticker) clearInterval(ticker);
    if (log !== undefined) closeSync(log);
  }
}

/**
 * Serialises `up` of one component across processes (two test runs started together must
 * not start two brokers). A lock whose holder died is taken over.
 */
export async function withLock<T>(
  name: string, body: () => Promise<T>, options: { dir?: string; timeoutMs?: number } = {},
): Promise<T> {
  const dir = join(options.dir ?? envDir, 'locks');
  const timeoutMs = options.timeoutMs ?? 1_800_000;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch {
      const holder = Number.parseInt(readFileSafe(path), 10);
      if (!Number.isInteger(holder) || !isAlive(holder)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${name}: another process (${holder}) holds ${path}`);
      await sleep(500);
    }
  }
  try {
    return await body();
  } finally {
    if (readFileSafe(path).trim() === String(process.pid)) rmSync(path, { force: true });
  }
}

export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
}

function readFileSafe(path: string): string {
  try {
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  } catch {
    return '';
  }
}
