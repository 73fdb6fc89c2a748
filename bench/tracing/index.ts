/**
 * `npm run bench -- tracing [rabbit|kafka]`: send latency of two sidecars on the same broker in
 * the same run, one exporting its spans over OTLP (to a receiver in this process) and one
 * without an endpoint, sends taken in turn so that both see the same machine load.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testEnvironment } from '../../test/env/addresses.ts';
import { OtlpReceiver } from '../../test/support/otlp-receiver.ts';
import { startSidecar, type BrokerBench, type SidecarProcess } from '../harness.ts';
import { percentiles, timeInTurn } from '../measure.ts';

const messages = Number(process.env.BENCH_MESSAGES ?? 3000);

export async function main(brokerName = 'rabbit'): Promise<number> {
  const env = await testEnvironment();
  const broker: BrokerBench = brokerName === 'kafka'
    ? await (await import('../kafka/index.ts')).createKafkaBench(env.kafkaBrokers.join(','))
    : await (await import('../rabbit/index.ts')).createRabbitBench(env.rabbitUrl);
  const receiver = await OtlpReceiver.start();
  // The sidecars' push inputs stay idle; they only need an app that accepts connections.
  const app = createServer((request, response) => response.end());
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const suffix = randomBytes(4).toString('hex');
  const names = (kind: string) => ({
    sendDestination: `bench-trace-${kind}-${suffix}`, pushDestination: `bench-trace-push-${kind}-${suffix}`,
    sinkGroup: 'sink', pushGroup: 'push', appPort: (app.address() as AddressInfo).port, concurrency: 1,
  });
  const started: SidecarProcess[] = [];
  try {
    console.log(`bench tracing: ${broker.description}, ${messages} sends each, one in flight`);
    const plain = await startSidecar(broker, names('off'));
    started.push(plain);
    const traced = await startSidecar(broker, names('on'), { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '1000' });
    started.push(traced);
    const payload = Buffer.from(JSON.stringify({ data: 'x'.repeat(89) }));
    // Warm both paths (connections, JIT) before measuring.
    await timeInTurn(200, [() => plain.send('output', payload), () => traced.send('output', payload)]);
    const [off = [], on = []] = await timeInTurn(messages, [() => plain.send('output', payload), () => traced.send('output', payload)]);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const [p0, p1] = [percentiles(off), percentiles(on)];
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ms = (x: number): string => `${x.toFixed(2)} ms`;
    console.log(`\nsend latency     p50        p99        mean`);
    console.log(`tracing off      ${ms(p0.p50)}  ${ms(p0.p99)}  ${ms(mean(off))}`);
    console.log(`tracing on       ${ms(p1.p50)}  ${ms(p1.p99)}  ${ms(mean(on))}`);
    console.log(`on / off         ${(p1.p50 / p0.p50).toFixed(2)}x      ${(p1.p99 / p0.p99).toFixed(2)}x      ${(mean(on) / mean(off)).toFixed(2)}x`);
    console.log(`spans exported: ${receiver.spans.length} (receiver refused ${receiver.refused.length} requests)`);
    return 0;
  } finally {
    for (const sidecar of started) await sidecar.stop();
    await broker.cleanup(['off', 'on'].flatMap((kind) => [names(kind).sendDestination, names(kind).pushDestination]), ['sink', 'push']);
    await broker.close();
    await receiver.close();
    app.close();
  }
}
