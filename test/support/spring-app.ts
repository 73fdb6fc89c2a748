/**
 * A real Spring Cloud Stream service (test/fixtures/spring-app) as a child process of a test:
 * started on a broker of the test environment with any Spring properties, driven and read
 * through its control API. Its output goes to test/.env/logs/spring-app-<name>.log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { logFile } from '../env/paths.ts';
import { logTail } from '../env/process.ts';
import { buildSpringApp, springAppJavaArgs } from '../env/spring-app.ts';
import { testEnv } from './env.ts';
import { waitFor } from './wait.ts';

/** For the `beforeAll` that calls {@link prepareSpringApp}: a build without a cache downloads for minutes. */
export const springAppBuildTimeoutMs = 20 * 60_000;

/** Builds the service unless the cache holds this version of it; prints progress while it builds. */
export async function prepareSpringApp(): Promise<void> {
  await buildSpringApp((line) => console.log(`[env] ${line}`));
}

/** Spring properties by their full name, e.g. `spring.cloud.stream.bindings.out.destination`. */
export type SpringProperties = Record<string, string | number | boolean>;

export interface SpringAppOptions {
  /** Names the log file: test/.env/logs/spring-app-<name>.log. */
  name: string;
  /** The binder the bindings use; its broker is the test environment's. */
  binder: 'rabbit' | 'kafka';
  properties?: SpringProperties;
  /** Resolve when the context failed to start, for a test that reads why from errors(). */
  mayFail?: boolean;
}

/** A header as the Spring application saw it: its Java type name (`java.lang.String`, `byte[]`) and its value. */
export interface SpringHeader {
  type: string;
  /** Strings, numbers and booleans as they are; byte[] as UTF-8 text; other objects as Java prints them. */
  value: unknown;
}

export interface SpringReceived {
  /** The exchange or topic it came from. */
  destination: string | null;
  /** RabbitMQ: the queue it was consumed from (`<destination>.<group>-<n>` when partitioned). */
  queue: string | null;
  /** Kafka: the record's partition and key. */
  partition: number | null;
  key: string | null;
  payload: string;
  headers: Record<string, SpringHeader>;
  /** The attributes Spring Cloud Function's CloudEventMessageUtils reads, or null when it takes the message for no CloudEvent. */
  cloudEvent: { specversion: string; id: string; source: string; type: string; subject: string | null } | null;
}

export interface SpringLogEntry {
  level: 'WARN' | 'ERROR';
  logger: string;
  message: string;
  /** `class: message` of the exception and each of its causes. */
  causes: string[];
}

export interface SpringStatus {
  state: 'starting' | 'running' | 'failed';
  failure: string | null;
  /** Kafka partitions each input binding holds, as `topic-partition`. */
  assignments: Record<string, string[]>;
}

export interface SpringSend {
  /** The output binding, created by StreamBridge on first use unless listed in spring.cloud.stream.output-bindings. */
  binding: string;
  /** Sent as the Java object Jackson reads from it (Map, Integer, Long, Double, Boolean, String, List). */
  json?: unknown;
  /**
   * The same as JSON text, for values JavaScript would change on the way: `1.0` (a Double in
   * Java, `1` once parsed here) or integers beyond 2^53.
   */
  jsonText?: string;
  /** Sent as its UTF-8 bytes, unchanged. */
  text?: string;
  contentType?: string;
  /** Values keep their JSON type: a number becomes an Integer or a Long. */
  headers?: Record<string, unknown>;
  /** The Kafka record key. */
  key?: string;
  /** Attributes (name to value): the message is built with Spring Cloud Function's CloudEventMessageBuilder. */
  cloudEvent?: Record<string, string>;
  /** The prefix the builder gives the attributes (`ce-`, `ce_`, `cloudEvents:`); by default its own choice. */
  cloudEventPrefix?: string;
}

const running = new Set<ChildProcess>();
// A test worker that dies must not leave JVMs behind holding group memberships and queues.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class SpringApp {
  private constructor(
    readonly url: string,
    readonly logPath: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(options: SpringAppOptions): Promise<SpringApp> {
    const build = await buildSpringApp((line) => console.log(`[env] ${line}`));
    const started = Date.now();
    const env = testEnv();
    const properties: SpringProperties = {
      'spring.cloud.stream.default-binder': options.binder,
      ...(options.binder === 'kafka' && { 'spring.cloud.stream.kafka.binder.brokers': env.kafkaBrokers.join(',') }),
      ...options.properties,
    };
    const logPath = logFile(`spring-app-${options.name}`);
    mkdirSync(dirname(logPath), { recursive: true });
    const log = createWriteStream(logPath, { flags: 'a' });
    const child = spawn('java', [...springAppJavaArgs(build), ...Object.entries(properties).map(([k, v]) => `--${k}=${v}`)], {
      // The broker's credentials travel in the environment, not on a command line that ps shows.
      env: { ...process.env, SPRING_RABBITMQ_ADDRESSES: env.rabbitUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    // 'close', not 'exit': output can still arrive after the exit, and the log takes it all.
    const exited = new Promise<void>((resolve) => child.once('close', () => {
      running.delete(child);
      log.end();
      resolve();
    }));
    child.stderr!.pipe(log, { end: false });
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        log.write(chunk);
        seen = (seen + chunk.toString('utf8')).slice(-4096);
        const announced = /control API listening on (http:\/\/\S+)/.exec(seen);
        if (announced) resolve(announced[1]!);
      });
      void exited.then(async () => reject(new Error(`the Spring app exited before its control API answered\n${await logTail(logPath)}`)));
    });
    const app = new SpringApp(url, logPath, child, exited);
    const status = await waitFor('the Spring app to start', async () => {
      const now = await app.status();
      return now.state === 'starting' ? undefined : now;
    }, { timeoutMs: 90_000, everyMs: 100 }).catch(async (error: unknown) => {
      await app.stop();
      throw new Error(`${(error as Error).message}\n${await logTail(logPath)}`);
    });
    // Start-up time is what a Spring suite spends most: kept in the log to see where it went.
    if (!log.writableEnded) log.write(`--- test: ${status.state} after ${Date.now() - started} ms from spawn\n`);
    if (status.state === 'failed' && !options.mayFail) {
      await app.stop();
      throw new Error(`the Spring app failed to start: ${status.failure}\n${await logTail(logPath)}`);
    }
    return app;
  }

  status(): Promise<SpringStatus> {
    return this.get<SpringStatus>('/status');
  }

  received(): Promise<SpringReceived[]> {
    return this.get<SpringReceived[]>('/received');
  }

  /** What the service logged at WARN or ERROR, and the failure that ended its start, if any. */
  errors(): Promise<SpringLogEntry[]> {
    return this.get<SpringLogEntry[]>('/errors');
  }

  /** Sends through StreamBridge; throws unless the binding took the message. */
  async send(message: SpringSend): Promise<void> {
    const { jsonText, ...rest } = message;
    const request = jsonText === undefined ? JSON.stringify(rest) : `${JSON.stringify(rest).slice(0, -1)},"json":${jsonText}}`;
    const response = await fetch(`${this.url}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: request });
    const body = (await response.json()) as { sent?: boolean; error?: string; cause?: string };
    if (response.status !== 200 || body.sent !== true) {
      throw new Error(`the Spring app did not send to ${message.binding}: HTTP ${response.status} ${JSON.stringify(body)}`);
    }
  }

  /** Waits until the service has received at least `count` messages, and returns them all. */
  receivedAtLeast(count: number, timeoutMs = 20_000): Promise<SpringReceived[]> {
    return waitFor(`${count} messages received by the Spring app`, async () => {
      const received = await this.received();
      return received.length >= count ? received : undefined;
    }, { timeoutMs, everyMs: 100 });
  }

  /** Waits until the Kafka consumer of `binding` holds partitions, and returns them. */
  assigned(binding: string, timeoutMs = 30_000): Promise<string[]> {
    return waitFor(`the Spring app's ${binding} to be assigned partitions`, async () => {
      const held = (await this.status()).assignments[binding] ?? [];
      return held.length > 0 ? held : undefined;
    }, { timeoutMs, everyMs: 100 });
  }

  /** SIGTERM (Spring closes its bindings), SIGKILL when it has not exited after 20 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  private async get<T>(path: string): Promise<T> {
    const response = await fetch(`${this.url}${path}`);
    if (!response.ok) throw new Error(`GET ${path} of the Spring app: HTTP ${response.status}`);
    return (await response.json()) as T;
  }
}
