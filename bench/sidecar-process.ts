/**
 * The sidecar under bench: `bindery runtime` as a child process, started as the image runs it,
 * with what the bench reads of it from /proc (CPU, memory).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { SIDECAR_ALLOCATOR, SIDECAR_NODE_OPTIONS, sidecarChildEnv } from '../sidecar-config/env.ts';
import { allocatorMapped } from '../test/env/allocator.ts';
import type { BrokerBench } from './harness.ts';

/**
 * How the bench starts `bindery runtime`: as the image runs it, built by `npm run build` (run
 * here first, so that the figures are of the sources as they are) with Node's compile cache
 * filled as the Dockerfile fills it (docs/adr/0053), or with BENCH_SIDECAR=tsx from the sources
 * through tsx, as a checkout runs it.
 */
let command: { entry: string; description: string; env: NodeJS.ProcessEnv } | undefined;
export async function sidecarCommand(): Promise<{ entry: string; description: string; env: NodeJS.ProcessEnv }> {
  if (command !== undefined) return command;
  if (process.env.BENCH_SIDECAR === 'tsx') {
    command = { entry: fileURLToPath(new URL('../bin/bindery', import.meta.url)), description: 'from the TypeScript sources through tsx', env: {} };
  } else {
    const root = fileURLToPath(new URL('..', import.meta.url));
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
    const { bundle } = await import('../bin/bundle.ts');
    const entry = await bundle();
    // Beside the bundle it is made from, made again with it.
    const env = { NODE_COMPILE_CACHE: join(dirname(entry), '..', 'compile-cache') };
    await rm(env.NODE_COMPILE_CACHE, { recursive: true, force: true });
    // As the Dockerfile does: the CLI once, then every chunk of the bundle loaded once.
    execFileSync(process.execPath, [entry, '--help'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { readdirSync } from 'node:fs'; for (const f of readdirSync('.')) if (f !== 'bindery.js') await import('./' + f);"],
    { cwd: dirname(entry), env: { ...process.env, ...env }, stdio: 'ignore' });
    command = { entry, description: 'built (npm run build) and bundled, with its compile cache, as the image runs it', env };
  }
  return command;
}

/** How the sidecars of this run were started (once one was). */
export function sidecarDescription(): string {
  if (command === undefined) return 'not started';
  return `${command.description}, NODE_OPTIONS "${process.env.BENCH_SIDECAR_NODE_OPTIONS ?? SIDECAR_NODE_OPTIONS}", allocator ${allocator ?? 'not read'}`;
}

/** The allocator the first sidecar of the run was seen to run on. */
let allocator: string | undefined;

/** The malloc a process runs on, by what is mapped into it. */
function allocatorOf(pid: number): string {
  return allocatorMapped(readFileSync(`/proc/${pid}/maps`, 'utf8'))
    ? `jemalloc (${SIDECAR_ALLOCATOR}, as in the image)` : `glibc malloc: ${SIDECAR_ALLOCATOR} was not loaded, unlike in the image`;
}

export interface SidecarProcess {
  pid: number;
  /** From spawn to the first `/readyz` 200 (a connected binder), and the CPU it used meanwhile. */
  startup: { ms: number; cpuMs: number };
  send(binding: string, payload: Buffer): Promise<void>;
  /** One bulk request (ndjson) of `payloads`; rejects unless every message was sent. */
  sendBulk(binding: string, payloads: Buffer[]): Promise<void>;
  post(path: string, body: unknown): Promise<void>;
  stop(): Promise<void>;
}

/** `bindery runtime` as a child process; `env` adds to (or overrides) the bench's environment. */
export async function startSidecar(
  broker: BrokerBench,
  names: {
    sendDestination: string; pushDestination: string; sinkGroup: string; pushGroup: string; appPort: number; concurrency: number;
    /** A second input on pushDestination that pushes in batches (consumer.batchSize) to /batchInput. */
    batchGroup?: string; batchSize?: number; batchesInFlight?: number;
  },
  env: NodeJS.ProcessEnv = {},
): Promise<SidecarProcess> {
  const [port, opsPort] = await freePorts(2);
  const dir = await mkdtemp(join(tmpdir(), 'bindery-bench-'));
  const configFile = join(dir, 'bindery.yaml');
  await writeFile(configFile, stringify({
    binders: { bench: broker.binderConfig },
    defaultBinder: 'bench',
    bindings: {
      output: {
        direction: 'output', destination: names.sendDestination, contentType: 'application/json',
        producer: { requiredGroups: [names.sinkGroup] },
      },
      input: {
        direction: 'input', destination: names.pushDestination, group: names.pushGroup, contentType: 'application/json',
        consumer: { concurrency: names.concurrency, maxAttempts: 1 },
      },
      ...(names.batchGroup !== undefined && {
        batchInput: {
          direction: 'input', destination: names.pushDestination, group: names.batchGroup, contentType: 'application/json',
          consumer: { concurrency: names.batchesInFlight ?? 1, batchSize: names.batchSize ?? 1, maxAttempts: 1 },
        },
      }),
    },
    app: { port: names.appPort },
    http: { port, opsPort },
  }));
  // BENCH_CPU_PROF=<dir>: the sidecar writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const { entry, env: commandEnv } = await sidecarCommand();
  const podEnv = sidecarChildEnv(process.env, process.env.BENCH_SIDECAR_NODE_OPTIONS);
  // BENCH_SIDECAR_ALLOCATOR=glibc: the sidecar without the pod's jemalloc, to weigh it (docs/adr/0059).
  const chosenAllocator = process.env.BENCH_SIDECAR_ALLOCATOR;
  if (chosenAllocator !== undefined && chosenAllocator !== 'glibc' && chosenAllocator !== 'jemalloc') {
    throw new Error(`BENCH_SIDECAR_ALLOCATOR=${chosenAllocator}: glibc or jemalloc (the default)`);
  }
  if (chosenAllocator === 'glibc') podEnv.LD_PRELOAD = process.env.LD_PRELOAD ?? '';
  const spawnedAt = process.hrtime.bigint();
  const child = spawn(process.execPath, [...profile, entry, 'runtime', '--config', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      // As the webhook starts it; BENCH_SIDECAR_NODE_OPTIONS replaces its NODE_OPTIONS (docs/adr/0052).
      ...podEnv,
      ...commandEnv,
      BINDERY_LOG_LEVEL: process.env.BINDERY_LOG_LEVEL ?? 'warn',
      ...env,
    },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 128, pipelining: 1 });
  const ops = new Pool(`http://127.0.0.1:${opsPort}`, { connections: 1 });
  const stop = async (): Promise<void> => {
    await pool.close();
    await ops.close();
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`bindery runtime exited with ${child.exitCode}: ${stderr.trim()}`);
      const response = await ops.request({ method: 'GET', path: '/readyz' }).catch(() => undefined);
      await response?.body.dump();
      return response?.statusCode === 200;
    }, 60_000, 'the sidecar to become ready', 5);
  } catch (error) {
    await stop();
    throw error;
  }
  const startup = { ms: Number(process.hrtime.bigint() - spawnedAt) / 1e6, cpuMs: processCpuSeconds(child.pid!) * 1000 };
  allocator ??= allocatorOf(child.pid!);
  return {
    pid: child.pid!,
    startup,
    async send(binding, payload) {
      const response = await pool.request({
        method: 'POST', path: `/v1/send/${binding}`, body: payload, headers: { 'content-type': 'application/json' },
      });
      const text = await response.body.text();
      if (response.statusCode !== 202) throw new Error(`send answered ${response.statusCode}: ${text}`);
    },
    async sendBulk(binding, payloads) {
      // Each payload is JSON: it goes into its line as the JSON value it is.
      const body = payloads.map((payload) => `{"payload":${payload.toString('utf8')}}`).join('\n');
      const response = await pool.request({
        method: 'POST', path: `/v1/send/${binding}`, body, headers: { 'content-type': 'application/x-ndjson' },
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`bulk send answered ${response.statusCode}: ${text.slice(0, 500)}`);
    },
    async post(path, body) {
      const response = await pool.request({
        method: 'POST', path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' },
      });
      const text = await response.body.text();
      if (response.statusCode >= 300) throw new Error(`POST ${path} answered ${response.statusCode}: ${text}`);
    },
    stop,
  };
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string, pollMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** CPU seconds (user + system) a process used so far, from /proc (Linux). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

export function processMemoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** SIGTERM, then SIGKILL if the child has not exited 10 s later. */
export async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
