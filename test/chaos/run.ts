/**
 * One fault scenario: a real `bindery runtime` process sending to and pushing from a real
 * broker of the test environment, a sender keeping it busy, the app process it pushes to. The
 * fault is injected once half of the sends were answered 202, and cleared; the run goes on until
 * all of them were, then waits for every accepted message to reach the app.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { BrokerEnvironment } from '../env/brokers.ts';
import { cleanUp, createDrainedTopic } from '../fuzz/run.ts';
import { freePort } from '../integration/runtime/support.ts';
import { ConfigFiles, processAnswers, runtimeProcess, type RuntimeProcess } from '../support/runtime-process.ts';
import { sidecarChildEnv } from '../../sidecar-config/env.ts';
import { waitFor } from '../support/wait.ts';
import { AppProcess, longestGap, Sender } from './traffic.ts';

export type BinderType = 'rabbit' | 'kafka';

export interface RunOptions {
  /** Sends answered 202 the run aims at: half before the fault, half after it. */
  sends: number;
  /** Sends in flight at once. */
  concurrency: number;
  /** How long a fault lasts before it is cleared (a broker down, an app down, an alarm on). */
  downMs: number;
  /** Deliveries are waited for until none came for this long (what is missing then is lost). */
  quietMs: number;
  progress: (line: string) => void;
}

/** The sidecar of a scenario: its process, which a fault may stop and start again on the same ports and config. */
export class Sidecar {
  run!: RuntimeProcess;
  /** From the last (re)start to `/readyz` 200. */
  readyMs = 0;

  private constructor(private readonly args: string[], readonly configFile: string, readonly apiUrl: string, private readonly opsPort: number) {}

  static async start(files: ConfigFiles, yaml: string, watch: boolean): Promise<Sidecar> {
    const [port, opsPort] = [await freePort(), await freePort()];
    const configFile = await files.write(yaml);
    const args = ['--config', configFile, '--port', String(port), '--ops-port', String(opsPort), ...(watch ? [] : ['--no-watch'])];
    const sidecar = new Sidecar(args, configFile, `http://127.0.0.1:${port}`, opsPort);
    await sidecar.restart();
    return sidecar;
  }

  /** Starts the process (again); resolves once its binders are connected and its inputs consume. */
  async restart(): Promise<void> {
    const started = Date.now();
    // With the process environment the webhook gives a pod's sidecar (heap sizes, jemalloc).
    this.run = runtimeProcess(this.args, { ...sidecarChildEnv(process.env), BINDERY_LOG_LEVEL: process.env.BINDERY_LOG_LEVEL ?? 'warn' } as Record<string, string>);
    await processAnswers(this.run, this.opsPort, 'readyz', 120_000);
    this.readyMs = Date.now() - started;
    await waitFor('the inputs to consume', async () => (await this.bindings()).filter((b) => b.direction === 'input').every((b) => b.consuming === true), 60_000);
  }

  async bindings(): Promise<Array<{ name: string; direction: string; binder: string; consuming?: boolean }>> {
    const response = await fetch(`${this.apiUrl}/v1/bindings`);
    return ((await response.json()) as { bindings: Array<{ name: string; direction: string; binder: string; consuming?: boolean }> }).bindings;
  }

  /** SIGTERM; the exit code. */
  async terminate(): Promise<number | null> {
    if (this.run.exited()) return this.run.exit;
    this.run.child.kill('SIGTERM');
    return this.run.exit;
  }

  async rewriteConfig(yaml: string): Promise<void> {
    await writeFile(this.configFile, yaml);
  }
}

/** What a fault gets to work with. */
export interface FaultContext {
  env: BrokerEnvironment;
  sidecar: Sidecar;
  app: AppProcess;
  /** The config with both bindings on `binder` (what a binder switch writes). */
  config: (binder: BinderType) => string;
  downMs: number;
  progress: (line: string) => void;
}

export interface Scenario {
  name: string;
  /** The binder the bindings start on. */
  binder: BinderType;
  /** Binders the config names (a switch needs both). */
  binders: BinderType[];
  /** Watch the config file (a binder switch edits it). */
  watch?: boolean;
  /** Injects the fault and clears it; resolves once the fault is over (the broker, sidecar or app is back). */
  fault: (context: FaultContext) => Promise<void>;
}

export interface ScenarioResult {
  scenario: string;
  /** Send requests made. */
  sent: number;
  accepted: number;
  lost: number;
  /** Ids lost, the first few (for the log). */
  lostIds: string[];
  duplicated: number;
  /** Answers other than 202, by status (`conn`: no answer, the connection failed). */
  refused: Map<string, number>;
  /** Longest time without a 202, from the fault on. */
  sendRecoveryMs: number;
  /** Longest time without a push reaching the app, from the fault on. */
  pushRecoveryMs: number;
  /** What went wrong with the run itself (a sidecar that never came back...). */
  error?: string;
  seconds: number;
}

function binderYaml(binder: BinderType, env: BrokerEnvironment): string {
  return binder === 'rabbit' ? `{ type: rabbit, rabbit: { url: "${env.rabbitUrl}" } }` : `{ type: kafka, kafka: { brokers: [${env.kafkaBrokers.join(', ')}] } }`;
}

/**
 * Both bindings on one sidecar, on one destination: every accepted send comes back as a push.
 * The app may be down for a while (a crash): pushes are retried for ~30 s before they would be
 * dropped, well beyond the faults' length.
 */
function configYaml(scenario: Scenario, binder: BinderType, destination: string, appPort: number, env: BrokerEnvironment): string {
  return [
    'binders:',
    ...scenario.binders.map((b) => `  ${b}: ${binderYaml(b, env)}`),
    'bindings:',
    `  out: { direction: output, destination: ${destination}, binder: ${binder} }`,
    `  in: { direction: input, destination: ${destination}, group: chaos, binder: ${binder}, consumer: { concurrency: 8, maxAttempts: 20, backOffInitialInterval: 100, backOffMaxInterval: 2000 } }`,
    `app: { port: ${appPort} }`,
  ].join('\n');
}

export async function runScenario(env: BrokerEnvironment, scenario: Scenario, options: RunOptions): Promise<ScenarioResult> {
  const started = Date.now();
  const destination = `chaos-${scenario.name}-${randomBytes(3).toString('hex')}`;
  const say = (line: string): void => options.progress(`${scenario.name}: ${line}`);
  const files = new ConfigFiles();
  const app = new AppProcess(await freePort());
  let sidecar: Sidecar | undefined;
  let sender: Sender | undefined;
  let error: string | undefined;
  let faultAt = Date.now();
  try {
    // Kafka: the topic with as many partitions as the input's concurrency, before anyone joins.
    if (scenario.binders.includes('kafka')) await createDrainedTopic(env, destination);
    await app.start();
    const config = (binder: BinderType): string => configYaml(scenario, binder, destination, app.port, env);
    sidecar = await Sidecar.start(files, config(scenario.binder), scenario.watch ?? false);
    sender = new Sender(sidecar.apiUrl, 'out', destination, options.concurrency);
    sender.start();
    const half = Math.floor(options.sends / 2);
    await waitFor(`${half} sends answered 202`, () => sender!.accepted.size >= half, { timeoutMs: 300_000, everyMs: 50 });
    say(`${sender.accepted.size} accepted, ${app.received.size} pushed; fault`);
    faultAt = Date.now();
    await scenario.fault({ env, sidecar, app, config, downMs: options.downMs, progress: say });
    say(`fault over after ${((Date.now() - faultAt) / 1000).toFixed(1)} s`);
    const atFaultOver = sender.accepted.size;
    await waitFor('the rest of the sends answered 202', () => sender!.accepted.size >= Math.max(options.sends, atFaultOver + 100), { timeoutMs: 300_000, everyMs: 50 });
  } catch (caught) {
    error = (caught as Error).message.slice(0, 2_000);
    say(`failed: ${error}`);
  }
  await sender?.stop();
  const stoppedAt = Date.now();
  const accepted = sender?.accepted ?? new Set<string>();
  const missing = (): string[] => [...accepted].filter((id) => !app.received.has(id));
  if (error === undefined) await waitForDeliveries(app, missing, options.quietMs, say);
  const lostIds = missing();
  const result: ScenarioResult = {
    scenario: scenario.name,
    sent: sender?.sent ?? 0,
    accepted: accepted.size,
    lost: lostIds.length,
    lostIds: lostIds.slice(0, 10),
    duplicated: app.duplicates,
    refused: sender?.refused ?? new Map(),
    sendRecoveryMs: longestGap(sender?.acceptedAt ?? [], faultAt, stoppedAt),
    pushRecoveryMs: longestGap(app.receivedAt, faultAt, stoppedAt),
    ...(error !== undefined && { error }),
    seconds: (Date.now() - started) / 1000,
  };
  if (sidecar && !sidecar.run.exited()) {
    const code = await sidecar.terminate();
    if (code !== 0) say(`the sidecar exited ${code} on SIGTERM: ${sidecar.run.output().slice(-2_000)}`);
  }
  await app.kill();
  await files.removeAll();
  for (const binder of scenario.binders) await cleanUp(env, binder, destination).catch((e: Error) => say(`cleanup on ${binder}: ${e.message}`));
  return result;
}

/** Until every accepted message arrived, or none arrived for `quietMs`. */
async function waitForDeliveries(app: AppProcess, missing: () => string[], quietMs: number, say: (line: string) => void): Promise<void> {
  let seen = -1;
  let quietSince = Date.now();
  await waitFor('every accepted message pushed', () => {
    if (missing().length === 0) return true;
    if (app.receipts !== seen) {
      seen = app.receipts;
      quietSince = Date.now();
    }
    return Date.now() - quietSince > quietMs;
  }, { timeoutMs: 30 * 60_000, everyMs: 250 });
  const left = missing().length;
  if (left > 0) say(`${left} accepted messages not pushed after ${quietMs / 1000} s without a push`);
}
