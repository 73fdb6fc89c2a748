/**
 * A Spring Cloud Stream service and Bindery sidecars sharing RabbitMQ groups (SPEC section 2).
 * With the defaults on both sides they declare the same group queue in either start order and
 * from either of the sidecar's formats (bindery.yaml, the Spring service's own application.yml),
 * a producer's required groups included; dead letters on both sides (deadLetter: true, Spring's
 * autoBindDlq) agree too. A sidecar whose settings differ from Spring's is refused by the broker
 * and says so, naming the argument and both values, without retrying.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { managementApi, testEnv } from '../../support/env.ts';
import { prepareSpringApp, SpringApp, springAppBuildTimeoutMs } from '../../support/spring-app.ts';
import { waitFor } from '../../support/wait.ts';
import { rawRabbit, type RawRabbit } from '../rabbit/support.ts';
import { deleteRabbitObjects, delay, freePort, PushTarget, recordingLogger, send, sidecarFrom, unique } from '../runtime/support.ts';

const prefix = unique('spring-share');
const group = 'g';
const destination = (name: string) => `${prefix}-${name}`;
/** Group queues a sidecar declares before the Spring service starts, and after it. */
const binderyFirst = { 'bindery.yaml': destination('first-native'), 'application.yml': destination('first-spring') };
const springFirst = { 'bindery.yaml': destination('after-native'), 'application.yml': destination('after-spring') };
const refused = destination('refused');
const required = { 'bindery.yaml': destination('required-native'), 'application.yml': destination('required-spring') };
/** Dead letters on: a sidecar declares them first, a Spring service with autoBindDlq starts on them. */
const deadLettered = { input: destination('dlq-input'), 'bindery.yaml': destination('dlq-required-native'), 'application.yml': destination('dlq-required-spring') };

type Format = keyof typeof binderyFirst;
const formats: Format[] = ['bindery.yaml', 'application.yml'];

const rabbitBinder = () => `binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }`;

/** A Spring application.yml on the test broker, with `bindings` below spring.cloud.stream. */
function springYaml(bindings: string): string {
  const url = new URL(testEnv().rabbitUrl);
  return `spring:
  rabbitmq: { host: ${url.hostname}, port: ${url.port}, username: ${decodeURIComponent(url.username)}, password: ${decodeURIComponent(url.password)} }
  cloud.stream:
${bindings}`;
}

/** A sidecar with one pushed input `input` on `dest`, group g, in either format. */
async function inputSidecar(format: Format, dest: string, app: PushTarget): Promise<RunningSidecar> {
  return format === 'bindery.yaml'
    ? sidecarFrom(`${rabbitBinder()}\nbindings: { input: { direction: input, destination: ${dest}, group: ${group} } }`, { appPort: app.port })
    : sidecarFrom(springYaml(`    bindings.input: { destination: ${dest}, group: ${group} }`), { appPort: app.port });
}

const running = {
  apps: new Map<string, PushTarget>(),
  sidecars: new Map<string, RunningSidecar>(),
} as {
  apps: Map<string, PushTarget>;
  sidecars: Map<string, RunningSidecar>;
  spring: SpringApp;
  springDlq: SpringApp;
  refused: RunningSidecar;
  refusedLog: ReturnType<typeof recordingLogger>['lines'];
  raw: RawRabbit;
};

async function pushedInput(format: Format, dest: string): Promise<void> {
  const app = await PushTarget.start();
  running.apps.set(dest, app);
  running.sidecars.set(dest, await inputSidecar(format, dest, app));
}

const consuming = (sidecar: RunningSidecar) =>
  waitFor('the sidecar input to consume', () => sidecar.sidecar.bindings().find((b) => b.name === 'input')?.consuming === true, 20_000);

beforeAll(prepareSpringApp, springAppBuildTimeoutMs);

beforeAll(async () => {
  running.raw = await rawRabbit();
  // Sidecars first: their group queues exist before the Spring services declare theirs.
  await Promise.all(formats.map((format) => pushedInput(format, binderyFirst[format])));
  const dlqApp = await PushTarget.start();
  running.apps.set(deadLettered.input, dlqApp);
  const deadLetters = await sidecarFrom(`${rabbitBinder()}
bindings:
  input: { direction: input, destination: ${deadLettered.input}, group: ${group}, consumer: { deadLetter: true } }
  output: { direction: output, destination: ${deadLettered['bindery.yaml']}, producer: { requiredGroups: [${group}], deadLetter: true } }`, { appPort: dlqApp.port });
  running.sidecars.set(deadLettered.input, deadLetters);
  running.sidecars.set(deadLettered['bindery.yaml'], deadLetters);
  running.sidecars.set(deadLettered['application.yml'], await sidecarFrom(springYaml(`    bindings.output: { destination: ${deadLettered['application.yml']}, producer.required-groups: ${group} }
    rabbit.bindings.output.producer.auto-bind-dlq: true`)));
  await Promise.all([...new Set(running.sidecars.values())].filter((s) => s.sidecar.bindings().some((b) => b.name === 'input')).map(consuming));
  await waitFor('the required groups\' queues', async () =>
    (await Promise.all([deadLettered['bindery.yaml'], deadLettered['application.yml']].map((d) => queue(`${d}.${group}`)))).every(Boolean), 10_000);

  const consumer = (name: string, destinations: string[], properties: Record<string, string | boolean> = {}) => SpringApp.start({
    name,
    binder: 'rabbit',
    properties: {
      'spring.cloud.function.definition': 'receive',
      'spring.cloud.stream.bindings.receive-in-0.destination': destinations.join(','),
      'spring.cloud.stream.bindings.receive-in-0.group': group,
      ...properties,
    },
  });
  [running.spring, running.springDlq] = await Promise.all([
    consumer('shared-group', [...Object.values(binderyFirst), ...Object.values(springFirst), refused, ...Object.values(required)]),
    consumer('shared-group-dlq', Object.values(deadLettered), { 'spring.cloud.stream.rabbit.bindings.receive-in-0.consumer.auto-bind-dlq': true }),
  ]);

  // Sidecars after the Spring service: its queues are there already.
  await Promise.all(formats.map((format) => pushedInput(format, springFirst[format])));
  running.sidecars.set(required['bindery.yaml'], await sidecarFrom(`${rabbitBinder()}
bindings: { output: { direction: output, destination: ${required['bindery.yaml']}, producer: { requiredGroups: [${group}] } } }`));
  running.sidecars.set(required['application.yml'], await sidecarFrom(springYaml(
    `    bindings.output: { destination: ${required['application.yml']}, producer.required-groups: ${group} }`)));
  const log = recordingLogger();
  running.refusedLog = log.lines;
  running.refused = await sidecarFrom(`${rabbitBinder()}
bindings: { input: { direction: input, destination: ${refused}, group: ${group}, consumer: { deadLetter: true } } }`, { logger: log.logger, appPort: (await PushTarget.start()).port });
  await Promise.all(formats.map((format) => consuming(running.sidecars.get(springFirst[format])!)));
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([...new Set(running.sidecars.values()), running.refused].map((sidecar) => sidecar?.close()));
  await Promise.allSettled([running.spring?.stop(), running.springDlq?.stop()]);
  await Promise.allSettled([...running.apps.values()].map((app) => app.close()));
  await running.raw?.close();
  await deleteRabbitObjects(prefix);
});

function queue(name: string) {
  return managementApi<{ durable: boolean; exclusive: boolean; auto_delete: boolean; arguments: Record<string, unknown> }>(`/queues/%2F/${encodeURIComponent(name)}`);
}

/** Publishes as a Spring producer routes: to the destination's exchange with its name as the key. */
function publish(dest: string, body: object): void {
  running.raw.channel.publish(dest, dest, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', persistent: true });
}

async function springErrors(spring: SpringApp): Promise<string[]> {
  return (await spring.errors()).map((e) => [e.message, ...e.causes].join(' | ')).filter((text) => /PRECONDITION_FAILED|inequivalent/.test(text));
}

describe.each([
  ['the sidecar declared the group queue first', binderyFirst],
  ['the Spring service declared the group queue first', springFirst],
])('a group shared by a Spring service and a sidecar on RabbitMQ: %s', (_order, destinations) => {
  it.each(formats)('from %s: one queue with Spring\'s arguments, both consume, each message reaches exactly one of them', async (format) => {
    const dest = destinations[format];
    expect(await queue(`${dest}.${group}`)).toMatchObject({ durable: true, exclusive: false, auto_delete: false, arguments: {} });
    expect(await queue(`${dest}.${group}.dlq`)).toBeUndefined();
    const view = running.sidecars.get(dest)!.sidecar.bindings().find((b) => b.name === 'input');
    expect(view).toMatchObject({ group, consuming: true });
    expect(view).not.toHaveProperty('error');

    const sent = Array.from({ length: 10 }, (_, n) => n);
    for (const n of sent) publish(dest, { n });
    const app = running.apps.get(dest)!;
    const springGot = async () => (await running.spring.received()).filter((r) => r.destination === dest).map((r) => (JSON.parse(r.payload) as { n: number }).n);
    const sidecarGot = () => app.received.map((r) => (JSON.parse(r.body) as { n: number }).n);
    await waitFor('all 10 messages to arrive', async () => (await springGot()).length + sidecarGot().length >= sent.length, 20_000);
    await delay(500);
    const [bySpring, bySidecar] = [await springGot(), sidecarGot()];
    expect([...bySpring, ...bySidecar].sort((a, b) => a - b)).toEqual(sent);
    expect(bySpring.length).toBeGreaterThan(0);
    expect(bySidecar.length).toBeGreaterThan(0);
    expect(await springErrors(running.spring)).toEqual([]);
  });
});

describe('a sidecar whose dead letters differ from the Spring service\'s queue', () => {
  const conflict = `queue '${refused}.${group}': it exists with x-dead-letter-exchange = none, this binding declares x-dead-letter-exchange = DLX`;

  it('is refused by the broker: the binding and /readyz name the argument and both values, and it does not retry', async () => {
    const view = await waitFor('the refusal', () => {
      const input = running.refused.sidecar.bindings().find((b) => b.name === 'input');
      return input?.error !== undefined ? input : undefined;
    }, 15_000);
    expect(view).toMatchObject({ consuming: false, binderState: 'up' });
    expect(view.error).toContain(conflict);
    const readyz = await fetch(`${running.refused.opsUrl}/readyz`);
    expect(readyz.status).toBe(503);
    const readiness = (await readyz.json()) as { ready: boolean; binders: Record<string, string>; bindings?: Record<string, string> };
    expect(readiness).toMatchObject({ ready: false, binders: { rabbit: 'up' } });
    expect(readiness.bindings?.input).toContain(conflict);

    // The sidecar's retry policy starts at 500 ms: a retry loop would have tried several times by now.
    await delay(2_500);
    const said = (text: string) => running.refusedLog.filter((line) => line.msg.includes(text)).length;
    expect(said('the broker refused the binding\'s topology')).toBe(1);
    expect(said('cannot create the consumer yet')).toBe(0);
    expect(running.refused.sidecar.bindings().find((b) => b.name === 'input')?.consuming).toBe(false);
  });

  it('leaves the Spring service\'s queue and consumer as they were', async () => {
    expect(await queue(`${refused}.${group}`)).toMatchObject({ arguments: {} });
    publish(refused, { n: 'still Spring\'s' });
    await waitFor('Spring to receive it', async () => (await running.spring.received()).some((r) => r.destination === refused), 15_000);
    expect(await springErrors(running.spring)).toEqual([]);
  });

  it('as a `bindery runtime` process, ends on SIGTERM within its drain limit, exit code 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bindery-'));
    const file = join(dir, 'bindery.yaml');
    await writeFile(file, `${rabbitBinder()}
bindings: { input: { direction: input, destination: ${refused}, group: ${group}, consumer: { deadLetter: true } } }`);
    const [port, opsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['bin/bindery', 'runtime', '--config', file, '--port', String(port), '--ops-port', String(opsPort)], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor('the refusal', async () => {
        const answer = await fetch(`http://127.0.0.1:${port}/v1/bindings`).catch(() => undefined);
        const bindings = answer?.ok ? ((await answer.json()) as { bindings: Array<{ error?: string }> }).bindings : [];
        return bindings[0]?.error?.includes(conflict) === true;
      }, 20_000);
      const signalled = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // The sidecar's drain limit (drainMaxMs) is 30 s.
      expect(Date.now() - signalled).toBeLessThan(30_000);
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('required groups of a sidecar\'s producer on a Spring service\'s group', () => {
  it.each(formats)('from %s: the queue keeps Spring\'s arguments, sends answer at once and the Spring service receives them', async (format) => {
    const dest = required[format];
    const sidecar = running.sidecars.get(dest)!;
    const started = Date.now();
    const answer = await send(sidecar, 'output', JSON.stringify({ from: format }));
    expect(answer.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(2_000);
    const got = await waitFor('Spring to receive it', async () => (await running.spring.received()).find((r) => r.destination === dest), 15_000);
    expect(JSON.parse(got.payload)).toEqual({ from: format });
    expect(await queue(`${dest}.${group}`)).toMatchObject({ durable: true, arguments: {} });
    expect(sidecar.sidecar.bindings().find((b) => b.name === 'output')).not.toHaveProperty('error');
  });
});

describe('dead letters on both sides: deadLetter: true is Spring\'s autoBindDlq', () => {
  it.each([
    ['an input with deadLetter: true', deadLettered.input],
    ['required groups with producer.deadLetter: true (bindery.yaml)', deadLettered['bindery.yaml']],
    ['required groups with rabbit auto-bind-dlq: true (application.yml)', deadLettered['application.yml']],
  ])('%s declares the queue a Spring consumer with autoBindDlq declares: it starts on it without a refusal', async (_case, dest) => {
    expect(await queue(`${dest}.${group}`)).toMatchObject({
      durable: true,
      arguments: { 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': `${dest}.${group}` },
    });
    expect(await queue(`${dest}.${group}.dlq`)).toMatchObject({ durable: true, arguments: {} });
    expect((await running.springDlq.status()).state).toBe('running');
    expect(await springErrors(running.springDlq)).toEqual([]);
  });

  it('the Spring service with autoBindDlq receives what the sidecars\' producers send', async () => {
    for (const format of formats) expect((await send(running.sidecars.get(deadLettered[format])!, 'output', JSON.stringify({ from: format }))).status).toBe(202);
    await waitFor('both messages at the Spring service', async () => {
      const destinations = (await running.springDlq.received()).map((r) => r.destination);
      return formats.every((format) => destinations.includes(deadLettered[format]));
    }, 15_000);
  });
});
