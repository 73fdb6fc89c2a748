/**
 * The faults: each injected into a real process of the test environment while the sidecar
 * sends and pushes, then cleared. `kill -9` of a broker, SIGTERM of the sidecar, `kill -9` of
 * the app mid-push, a RabbitMQ memory alarm, a live switch of both bindings to another binder.
 */
import { kafka } from '../env/kafka.ts';
import { killComponent, startComponent } from '../env/lifecycle.ts';
import { rabbit, rabbitctl } from '../env/rabbit.ts';
import { waitFor } from '../support/wait.ts';
import type { BinderType, FaultContext, Scenario } from './run.ts';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** RabbitMQ's default watermark, which the alarm scenario sets back. */
const DEFAULT_WATERMARK = '0.4';

async function memoryAlarm(context: FaultContext, on: boolean): Promise<void> {
  await rabbitctl(['set_vm_memory_high_watermark', on ? '0.000001' : DEFAULT_WATERMARK]);
  const { url, user, password } = context.env.rabbitManagement;
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  await waitFor(`the memory alarm ${on ? 'on' : 'off'}`, async () => {
    const nodes = (await (await fetch(`${url}/api/nodes`, { headers: { authorization } })).json()) as Array<{ mem_alarm: boolean }>;
    return nodes.length > 0 && nodes.every((node) => node.mem_alarm === on);
  }, 30_000);
}

export const SCENARIOS: Scenario[] = [
  ...([rabbit, kafka] as const).map((broker): Scenario => {
    const binder = broker.name as BinderType;
    return {
      name: `${binder}-kill9`,
      binder,
      binders: [binder],
      async fault({ downMs, progress }) {
        await killComponent(broker);
        await delay(downMs);
        progress(`starting ${binder} again`);
        await startComponent(broker);
      },
    };
  }),
  ...(['rabbit', 'kafka'] as const).map((binder): Scenario => ({
    name: `sidecar-sigterm-${binder}`,
    binder,
    binders: [binder],
    async fault({ sidecar, downMs, progress }) {
      const stopping = Date.now();
      const code = await sidecar.terminate();
      progress(`the sidecar exited ${code} ${Date.now() - stopping} ms after SIGTERM`);
      if (code !== 0) throw new Error(`the sidecar exited ${code} on SIGTERM: ${sidecar.run.output().slice(-2_000)}`);
      await delay(downMs);
      const starting = Date.now();
      await sidecar.restart();
      progress(`the new sidecar was ready ${sidecar.readyMs} ms and consumed ${Date.now() - starting} ms after its start`);
    },
  })),
  ...(['rabbit', 'kafka'] as const).map((binder): Scenario => ({
    name: `app-kill9-${binder}`,
    binder,
    binders: [binder],
    async fault({ app, downMs }) {
      await app.kill();
      await delay(downMs);
      await app.start();
    },
  })),
  {
    name: 'rabbit-memory-alarm',
    binder: 'rabbit',
    binders: ['rabbit'],
    async fault(context) {
      await memoryAlarm(context, true);
      try {
        await delay(context.downMs);
      } finally {
        await memoryAlarm(context, false);
      }
    },
  },
  {
    name: 'switch-rabbit-to-kafka',
    binder: 'rabbit',
    binders: ['rabbit', 'kafka'],
    watch: true,
    async fault({ sidecar, config }) {
      await sidecar.rewriteConfig(config('kafka'));
      await waitFor('both bindings on Kafka', async () => (await sidecar.bindings()).every((b) => b.binder === 'kafka' && (b.direction === 'output' || b.consuming === true)), 60_000);
    },
  },
];
