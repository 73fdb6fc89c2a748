/**
 * `bindery demo`: the seed scenario of Spring Cloud Stream tutorials, on one machine and in
 * one process (see scenario.ts). This module only reads the command line, so that --help
 * answers without loading the runtime.
 */
import { parseArgs } from 'node:util';

export const HELP = `Usage: bindery demo [--binder memory|rabbit|kafka]

Runs the seed scenario: a provider on :8801 (GET /sendMessage) and consumers on :8802 and
:8803, each behind its own Bindery sidecar, and checks four behaviours by count:
  1. two groups each get every message (broadcast)
  2. consumers of one group share the messages (competition)
  3. a group keeps the messages sent while its consumer is down (durability)
  4. an anonymous consumer misses what was sent while it was down

Options:
  --binder memory   the in-memory binder, nothing else needed (default)
  --binder rabbit   RabbitMQ at RABBIT_URL (default amqp://guest:guest@127.0.0.1:5672)
  --binder kafka    Kafka at KAFKA_BROKERS (default 127.0.0.1:9092)
  --switch          then move a binding from RabbitMQ to Kafka while messages flow (needs both)
  -h, --help        this text

Exit status: 0 when every step held, 1 otherwise.`;

export async function main(argv: string[]): Promise<number> {
  // The seed's apps alone, for pods with an injected sidecar (k8s/).
  if (argv[0] === 'provider' || argv[0] === 'consumer') return (await import('./pods.ts')).main(argv);
  let args;
  try {
    args = parseArgs({ args: argv, options: { binder: { type: 'string', default: 'memory' }, switch: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
  } catch (error) {
    console.error(`bindery demo: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const type = args.binder;
  if (type !== 'memory' && type !== 'rabbit' && type !== 'kafka') {
    console.error(`bindery demo: --binder must be memory, rabbit or kafka (got "${type}")`);
    return 2;
  }
  const { Demo, binderConfig } = await import('./scenario.ts');
  const { default: pino } = await import('pino');
  const demo = new Demo(binderConfig(type), pino({ level: process.env.BINDERY_LOG_LEVEL ?? 'warn' }, pino.destination(2)));
  try {
    const code = await demo.run();
    if (!args.switch) return code;
    const { liveSwitchStep } = await import('./switch.ts');
    console.log('\nLive switch: a binding moves from RabbitMQ to Kafka while messages flow');
    const held = await liveSwitchStep({ rabbit: binderConfig('rabbit'), kafka: binderConfig('kafka') }, pino({ level: 'warn' }, pino.destination(2)), console.log);
    return held && code === 0 ? 0 : 1;
  } catch (error) {
    console.error(`\nbindery demo failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await demo.stop();
  }
}
