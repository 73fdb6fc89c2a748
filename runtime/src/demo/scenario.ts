/**
 * `bindery demo`: the seed scenario of Spring Cloud Stream tutorials, on one machine and in
 * one process. A provider app on :8801 sends UUIDs through its own sidecar; consumer apps on
 * :8802 and :8803, each behind its own sidecar, print what they get. The demo walks through
 * broadcast across groups, competition within a group, durable group subscriptions and
 * anonymous consumers, checks each by count, and exits 0 only when every step held.
 */
import type { Logger } from 'pino';
import type { Binder } from '../binders/binder.ts';
import { createMemoryBinder } from '../binders/memory/index.ts';
import type { BinderConfig } from '../config/model.ts';
import { startSidecar } from '../server.ts';
import { consumerConfig, providerConfig } from './config.ts';
import { ConsumerApp, ProviderApp } from './apps.ts';

const DESTINATION = 'studyExchange';
const PROVIDER_PORT = 8801;
const CONSUMER_PORTS = [8802, 8803] as const;

interface Step {
  title: string;
  ok: boolean;
}

export function binderConfig(type: BinderConfig['type']): BinderConfig {
  if (type === 'rabbit') return { name: 'rabbit', type, rabbit: { url: process.env.RABBIT_URL ?? 'amqp://guest:guest@127.0.0.1:5672' } };
  if (type === 'kafka') {
    const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
    return { name: 'kafka', type, kafka: { brokers } };
  }
  return { name: 'memory', type };
}

export class Demo {
  private readonly steps: Step[] = [];
  private readonly consumers: ConsumerApp[] = [];
  private provider?: ProviderApp;
  private shared: Record<string, Binder> = {};
  /** Slower brokers get more time before a count is final. */
  private readonly patienceMs: number;
  private readonly quietMs: number;
  private readonly rebalanceMs: number;

  constructor(
    private readonly binder: BinderConfig,
    private readonly logger: Logger,
  ) {
    this.patienceMs = binder.type === 'memory' ? 3_000 : 20_000;
    this.quietMs = binder.type === 'memory' ? 300 : 2_000;
    this.rebalanceMs = binder.type === 'kafka' ? 6_000 : 0;
  }

  async run(): Promise<number> {
    const started = Date.now();
    console.log(`Bindery demo on the ${this.binder.type} binder, destination "${DESTINATION}"\n`);
    if (this.binder.type === 'memory') {
      // Memory is a broker inside this process: every sidecar of the demo shares it.
      const memory = createMemoryBinder(this.binder, { logger: this.logger });
      await memory.connect();
      this.shared = { [this.binder.name]: memory };
    }
    const providerSidecar = await startSidecar({
      config: providerConfig(this.binder, DESTINATION),
      logger: this.logger,
      sharedBinders: this.shared,
    });
    this.provider = await ProviderApp.start(PROVIDER_PORT, providerSidecar);
    console.log(`provider   :${PROVIDER_PORT}  GET /sendMessage -> sidecar ${providerSidecar.apiUrl} -> ${DESTINATION}`);

    const [first, second] = CONSUMER_PORTS.map(
      (port, i) => new ConsumerApp(`consumer-${i + 1}`, port, (group) => this.consumerSidecar(group, port), (id) => this.provider!.sent.has(id)),
    );
    this.consumers.push(first!, second!);

    await this.step('Two groups: each group gets every message', async () => {
      await first!.start('atguiguA');
      await second!.start('atguiguB');
      const sent = await this.send(4);
      await this.until(() => first!.countOf(sent) === 4 && second!.countOf(sent) === 4);
      return this.verdict(
        [`${first!.label} got ${first!.countOf(sent)} of ${sent.length}`, `${second!.label} got ${second!.countOf(sent)} of ${sent.length}`],
        first!.countOf(sent) === sent.length && second!.countOf(sent) === sent.length,
      );
    });

    await this.step('One group: its consumers share the messages, none gets one twice', async () => {
      await second!.restart('atguiguA');
      // A Kafka group hands the new member its partitions only after a rebalance.
      if (this.rebalanceMs > 0) await delay(this.rebalanceMs);
      const sent = await this.send(6);
      await this.until(() => first!.countOf(sent) + second!.countOf(sent) >= sent.length);
      await this.quiet();
      const a = first!.countOf(sent);
      const b = second!.countOf(sent);
      const twice = first!.duplicatesIn(sent) + second!.duplicatesIn(sent) + sent.filter((id) => first!.has(id) && second!.has(id)).length;
      return this.verdict(
        [`${first!.label} got ${a}, ${second!.label} got ${b}: ${a + b} of ${sent.length}, ${twice} twice`],
        a > 0 && b > 0 && a + b === sent.length && twice === 0,
      );
    });

    await this.step('Durable group: messages sent while the group\'s consumer is down wait for it', async () => {
      await second!.stop();
      await first!.stop();
      console.log(`   ${first!.label} stopped (the only consumer of group atguiguA)`);
      const sent = await this.send(4);
      await first!.start('atguiguA');
      await this.until(() => first!.countOf(sent) === sent.length);
      return this.verdict([`${first!.label} came back and got ${first!.countOf(sent)} of the ${sent.length} sent while it was down`], first!.countOf(sent) === sent.length);
    });

    await this.step('Anonymous consumer: what is sent while it is down is not kept for it', async () => {
      await second!.start(undefined);
      const warmUp = await this.send(2);
      await this.until(() => second!.countOf(warmUp) === warmUp.length && first!.countOf(warmUp) === warmUp.length);
      console.log(`   while up, ${second!.label} (anonymous) got ${second!.countOf(warmUp)} of ${warmUp.length}`);
      await second!.stop();
      console.log(`   ${second!.label} stopped`);
      const sent = await this.send(4);
      // consumer-1's group is the witness that the 4 were sent and delivered.
      await this.until(() => first!.countOf(sent) === sent.length);
      await second!.start(undefined);
      await this.quiet();
      return this.verdict(
        [
          `${first!.label} (group atguiguA) got ${first!.countOf(sent)} of ${sent.length}`,
          `${second!.label} (anonymous, restarted) got ${second!.countOf(sent)} of the ${sent.length} sent while it was down`,
        ],
        second!.countOf(warmUp) === warmUp.length && first!.countOf(sent) === sent.length && second!.countOf(sent) === 0,
      );
    });

    const passed = this.steps.filter((s) => s.ok).length;
    console.log(`\n${passed} of ${this.steps.length} steps held (${((Date.now() - started) / 1000).toFixed(1)} s).`);
    for (const [i, step] of this.steps.entries()) console.log(`  ${step.ok ? 'PASS' : 'FAIL'}  ${i + 1}. ${step.title}`);
    return passed === this.steps.length ? 0 : 1;
  }

  private consumerSidecar(group: string | undefined, appPort: number) {
    return startSidecar({ config: consumerConfig(this.binder, DESTINATION, group, appPort), logger: this.logger, sharedBinders: this.shared });
  }

  private async step(title: string, body: () => Promise<boolean>): Promise<void> {
    console.log(`\n${this.steps.length + 1}. ${title}`);
    const ok = await body();
    this.steps.push({ title, ok });
  }

  private verdict(lines: string[], ok: boolean): boolean {
    for (const line of lines) console.log(`   ${line}`);
    console.log(`   => ${ok ? 'PASS' : 'FAIL'}`);
    return ok;
  }

  private async send(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await this.provider!.sendOne());
    console.log(`   provider sent ${count} message${count === 1 ? '' : 's'} (GET :${PROVIDER_PORT}/sendMessage x${count})`);
    return ids;
  }

  private async until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + this.patienceMs;
    while (!condition() && Date.now() < deadline) await delay(20);
  }

  /** Gives late or unexpected deliveries the time to show up before counting. */
  private quiet(): Promise<void> {
    return delay(this.quietMs);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.stop()));
    await this.provider?.stop();
    await Promise.allSettled(Object.values(this.shared).map((b) => b.close()));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
