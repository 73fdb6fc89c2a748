/**
 * The seed scenario in real pods, in the order the README tells a user: `helm install` the
 * chart, `kubectl apply -f k8s/`, wait for 2/2 Running pods and Ready StreamBindings,
 * `kubectl port-forward svc/provider`, `curl /sendMessage`, read `kubectl logs`. Then what a
 * cluster adds: readiness following the broker, pod deletion, leader handover, StatefulSet
 * indexes, moving the bindings to Kafka in running pods, and `helm uninstall`.
 *
 * The pods run on the environment's kubelet node (test/env/node.ts) from the image built from
 * the Dockerfile. The one departure from the README: the broker is the environment's RabbitMQ
 * (and Kafka), reached through a Service of the name the Binder uses, instead of
 * k8s/rabbitmq/, whose image no registry here serves.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestNode } from '../env/contract.ts';
import { managementApi, startRabbit, stopRabbit, testEnv } from '../support/env.ts';
import {
  curl, externalService, getJson, helm, kubectl, logsByPod, pods, portForward, readyColumn, receivedIds, waitFor, waitForReadyPods,
} from './cluster.ts';

// The README's names: this suite is the only user of the node while it runs.
const system = 'bindery-system';
const demo = 'bindery-demo';
const seedPods = 'app.kubernetes.io/part-of=bindery-seed,bindery.io/inject=true';
const forwards: Array<() => void> = [];
let node: TestNode;
let provider: string;

async function rabbitAdmin(method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<void> {
  const env = testEnv();
  const auth = Buffer.from(`${env.rabbitManagementUser}:${env.rabbitManagementPassword}`).toString('base64');
  const response = await fetch(`${env.rabbitManagementUrl}/api${path}`, {
    method,
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok && response.status !== 404) throw new Error(`management API ${method} ${path}: HTTP ${response.status}`);
}

/** A namespace whose pods tolerate the test node's taint (PodTolerationRestriction's annotation). */
async function createNamespace(name: string): Promise<void> {
  await kubectl('create', 'namespace', name);
  const toleration = [{ key: node.taint.key, operator: 'Exists', effect: node.taint.effect }];
  await kubectl('annotate', 'namespace', name, `scheduler.alpha.kubernetes.io/defaultTolerations=${JSON.stringify(toleration)}`);
}

/** Removes what a previous run left (the operator may be gone, so finalizers are dropped by hand). */
async function cleanUp(): Promise<void> {
  await helm('uninstall', 'bindery', '--namespace', system).catch(() => '');
  const bindings = await kubectl('get', 'streambindings', '-n', demo, '-o', 'name').catch(() => '');
  for (const name of bindings.split('\n').filter(Boolean)) {
    await kubectl('patch', '-n', demo, name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}').catch(() => '');
  }
  await kubectl('delete', 'namespace', demo, system, '--ignore-not-found', '--wait=true', '--timeout=180s');
}

const work = mkdtempSync(join(tmpdir(), 'bindery-e2e-'));

/** `kubectl apply -f` of a manifest the test writes, in the demo namespace. */
async function apply(manifest: string): Promise<string> {
  const file = join(work, `manifest-${Date.now()}.json`);
  writeFileSync(file, manifest);
  return kubectl('apply', '-n', demo, '-f', file);
}

/** A `--timestamps` log line's time in nanoseconds (RFC 3339 drops the fraction's trailing zeros). */
function nanos(line: string | undefined): bigint | undefined {
  const match = /^(\S+?)(?:\.(\d+))?Z /.exec(line ?? '');
  if (!match) return undefined;
  return BigInt(Date.parse(`${match[1]}Z`)) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

async function send(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await curl(`${provider}/sendMessage`)).trim());
  return ids;
}

/** Ids in the consumer pods' logs, by pod. */
async function received(deployment: string): Promise<Map<string, string[]>> {
  const logs = await logsByPod(demo, `app.kubernetes.io/name=${deployment}`, 'consumer');
  return new Map([...logs].map(([pod, log]) => [pod, receivedIds(log)]));
}

const count = (byPod: Map<string, string[]>, ids: string[]): number =>
  [...byPod.values()].flat().filter((id) => ids.includes(id)).length;

const printLogLines = async (deployment: string, ids: string[]): Promise<void> => {
  for (const [pod, log] of await logsByPod(demo, `app.kubernetes.io/name=${deployment}`, 'consumer')) {
    const lines = log.split('\n').filter((line) => ids.some((id) => line.includes(id)));
    console.log(`$ kubectl logs -n ${demo} ${pod} -c consumer\n${lines.join('\n')}`);
  }
};

beforeAll(async () => {
  const env = testEnv();
  if (!env.node) throw new Error('the test node is not up: this suite needs the environment\'s `node` component');
  node = env.node;
  await cleanUp();
  // The Secret of k8s/00-binder.yaml names this user; the seed's destinations start empty.
  await rabbitAdmin('PUT', '/users/bindery', { password: 'bindery-seed', tags: '' });
  await rabbitAdmin('PUT', '/permissions/%2F/bindery', { configure: '.*', write: '.*', read: '.*' });
  for (const queue of ['studyExchange.atguiguA', 'studyExchange.atguiguB']) await rabbitAdmin('DELETE', `/queues/%2F/${queue}`);
  await rabbitAdmin('DELETE', '/exchanges/%2F/studyExchange');
  await createNamespace(system);
  await createNamespace(demo);
}, 300_000);

afterAll(async () => {
  for (const stop of forwards) stop();
  await cleanUp().catch((error: Error) => console.error(error.message));
  rmSync(work, { recursive: true, force: true });
  await rabbitAdmin('DELETE', '/users/bindery').catch(() => undefined);
}, 300_000);

describe('the seed scenario on a real node, as the README tells it', () => {
  it('helm install: two operator pods on the node, one leader; the API server reaches the webhook through its Service', async () => {
    await helm('install', 'bindery', 'charts/bindery', '--namespace', system, '--create-namespace');
    const operators = await waitForReadyPods(system, 'app.kubernetes.io/name=bindery,app.kubernetes.io/instance=bindery', 2);
    expect(operators.map((p) => p.spec!.nodeName)).toEqual([node.name, node.name]);
    const lease = await waitFor('a leader', async () => {
      const found = await getJson<{ spec: { holderIdentity?: string } }>('lease', '-n', system, 'bindery-operator').catch(() => undefined);
      return found?.spec.holderIdentity;
    });
    expect(operators.map((p) => p.metadata!.name)).toContain(lease.split('_')[0]);
    const webhook = await getJson<{ webhooks: Array<{ clientConfig: { service?: { name: string } } }> }>(
      'mutatingwebhookconfiguration', `bindery-${system}`);
    expect(webhook.webhooks[0]!.clientConfig.service?.name).toBeDefined();
    // `helm test` runs a pod that calls the webhook Service over TLS with the chart's CA.
    expect(await helm('test', 'bindery', '--namespace', system)).toMatch(/Phase:\s+Succeeded/);

    // What the operator's ServiceAccount may do, asked of the API server's RBAC.
    const as = `--as=system:serviceaccount:${system}:bindery`;
    const can = (...args: string[]): Promise<string> => kubectl('auth', 'can-i', as, ...args).then((out) => out.trim(), () => 'no');
    expect(await can('watch', 'streambindings.bindery.io', '--all-namespaces')).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io', '--namespace', system)).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io', '--namespace', demo)).toBe('no');
    expect(await can('list', 'pods', '--all-namespaces')).toBe('no');
    expect(await can('update', 'secrets', '--namespace', demo)).toBe('no');
    expect(await can('get', 'secrets', '--namespace', demo)).toBe('yes');
    expect(await can('list', 'secrets', '--all-namespaces')).toBe('no');
    expect(await can('watch', 'secrets', '--namespace', demo)).toBe('no');

    // An upgrade keeps the webhook's certificates (the caBundle the API server trusts).
    const tls = async (): Promise<Record<string, string>> =>
      (await getJson<{ data: Record<string, string> }>('secret', '-n', system, 'bindery-webhook-tls')).data;
    const before = await tls();
    await helm('upgrade', 'bindery', 'charts/bindery', '--namespace', system, '--reuse-values');
    expect(await tls()).toEqual(before);
  }, 420_000);

  it('kubectl apply -f k8s/: 2/2 Running pods with the injected native sidecar, every StreamBinding Ready', async () => {
    await apply(externalService('rabbitmq', 5672, node.hostAddress, node.rabbitPort));
    await kubectl('apply', '-n', demo, '-f', 'k8s/');
    const running = await waitForReadyPods(demo, seedPods, 4, 300_000);
    for (const pod of running) {
      expect(pod.spec!.nodeName).toBe(node.name);
      expect(readyColumn(pod)).toBe('2/2');
      expect(pod.spec!.initContainers![0]).toMatchObject({ name: 'bindery-runtime', restartPolicy: 'Always', image: node.image });
    }
    // The running sidecar (its container's process 1) allocates with the image's jemalloc (docs/adr/0059).
    const maps = await kubectl('exec', '-n', demo, running[0]!.metadata!.name!, '-c', 'bindery-runtime', '--',
      'node', '-e', 'process.stdout.write(require("fs").readFileSync("/proc/1/maps", "utf8"))');
    expect(maps).toMatch(/\/libjemalloc\.so\.2$/m);
    const bindings = await waitFor('every StreamBinding Ready', async () => {
      const items = (await getJson<{ items: Array<{ metadata: { name: string }; status?: { conditions?: Array<{ type: string; status: string }> } }> }>(
        'streambindings', '-n', demo)).items;
      return items.length === 3 && items.every((i) => i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? items : undefined;
    });
    expect(bindings.map((b) => b.metadata.name).sort()).toEqual(['input-a', 'input-b', 'output']);
    // The webhook, called through its Service, refuses a pod naming a binding that does not exist.
    const refused = apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'orders', labels: { 'bindery.io/inject': 'true' }, annotations: { 'bindery.io/bindings': 'output,orders-in' } },
      spec: { containers: [{ name: 'app', image: node.image }] },
    }));
    await expect(refused).rejects.toThrow(/unknown StreamBinding "orders-in"/);
    // k8s/rabbitmq/ (not run here: no registry serves its image) is valid for the API server.
    expect(await kubectl('apply', '-n', demo, '--dry-run=server', '-f', 'k8s/rabbitmq/')).toContain('deployment.apps/rabbitmq created (server dry run)');
    console.log(`$ kubectl get pods -n ${demo} -o wide\n${await kubectl('get', 'pods', '-n', demo, '-o', 'wide')}`);
    console.log(`$ kubectl get streambindings -n ${demo}\n${await kubectl('get', 'streambindings', '-n', demo)}`);
  }, 420_000);

  it('curl /sendMessage through kubectl port-forward: every group gets each message, atguiguA\'s two pods share them', async () => {
    const forward = await portForward(demo, 'svc/provider', 8801);
    forwards.push(forward.stop);
    provider = forward.url;
    // Both members of atguiguA consume before the first send, or one of them could take all.
    await waitFor('two consumers on studyExchange.atguiguA', async () =>
      (await managementApi<{ consumers: number }>('/queues/%2F/studyExchange.atguiguA'))?.consumers === 2);
    const sent = await send(10);
    const [a, b] = await waitFor('the 10 in both groups', async () => {
      const [groupA, groupB] = [await received('consumer-8802'), await received('consumer-8803')];
      return count(groupA, sent) >= 10 && count(groupB, sent) >= 10 ? [groupA, groupB] : undefined;
    });
    expect(count(b, sent)).toBe(10);
    expect(count(a, sent)).toBe(10);
    const perPod = [...a.values()].map((ids) => ids.filter((id) => sent.includes(id)));
    expect(perPod).toHaveLength(2);
    for (const ids of perPod) expect(ids.length, 'each atguiguA pod gets a share').toBeGreaterThan(0);
    await printLogLines('consumer-8802', sent);
    await printLogLines('consumer-8803', sent);
  }, 180_000);

  it('durability: consumer-8803 scaled to 0 gets the 4 sent meanwhile once it is back', async () => {
    await kubectl('scale', '-n', demo, 'deployment/consumer-8803', '--replicas=0');
    await waitFor('consumer-8803 gone', async () => (await pods(demo, 'app.kubernetes.io/name=consumer-8803')).length === 0);
    const whileDown = await send(4);
    await waitFor('atguiguA to get the 4', async () => count(await received('consumer-8802'), whileDown) >= 4);
    await kubectl('scale', '-n', demo, 'deployment/consumer-8803', '--replicas=1');
    await waitForReadyPods(demo, 'app.kubernetes.io/name=consumer-8803', 1);
    const back = await waitFor('the 4 in the new consumer-8803 pod', async () => {
      const got = await received('consumer-8803');
      return count(got, whileDown) >= 4 ? got : undefined;
    });
    expect(count(back, whileDown)).toBe(4);
    await printLogLines('consumer-8803', whileDown);
  }, 300_000);

  it('readiness follows the broker: 1/2 while RabbitMQ is down, 2/2 once it is back', async () => {
    const columns = async (): Promise<string[]> => (await pods(demo, seedPods)).map(readyColumn);
    await stopRabbit();
    try {
      await waitFor('every seed pod unready (1/2)', async () => (await columns()).every((c) => c === '1/2'), 90_000);
      // Liveness never fails because a broker is down: nothing restarted.
      const restarts = (await pods(demo, seedPods)).flatMap((p) => p.status!.initContainerStatuses!.map((s) => s.restartCount));
      expect(restarts.every((n) => n === 0)).toBe(true);
    } finally {
      await startRabbit();
    }
    await waitForReadyPods(demo, seedPods, 4, 120_000);
  }, 300_000);

  it('deleting a pod stops the app before the sidecar and loses no message the provider had confirmed', async () => {
    const [victim] = await pods(demo, 'app.kubernetes.io/name=consumer-8803');
    const name = victim!.metadata!.name!;
    const sending = send(20);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Everything the pod's containers printed, up to their end.
    const follow = (container: string): Promise<string> => kubectl('logs', '-n', demo, name, '-c', container, '--follow', '--timestamps');
    const logs = Promise.all([follow('consumer'), follow('bindery-runtime')]);
    await kubectl('delete', 'pod', '-n', demo, name, '--wait=true');
    const sent = await sending;
    const [appLog, sidecarLog] = await logs;
    const at = (log: string, pattern: RegExp): bigint | undefined => nanos(log.split('\n').find((l) => pattern.test(l)));
    const appStopped = at(appLog, /consumer :8803 stopping \(SIGTERM\)/);
    const sidecarStopping = at(sidecarLog, /shutting down/);
    expect(appStopped, 'the app logged its stop').toBeDefined();
    expect(sidecarStopping, 'the sidecar logged its stop').toBeDefined();
    expect(appStopped! < sidecarStopping!, `app stopped at ${appStopped}, sidecar at ${sidecarStopping}`).toBe(true);
    console.log(`${name}: the app stopped ${Number(sidecarStopping! - appStopped!) / 1e6} ms before the sidecar`);
    await waitForReadyPods(demo, 'app.kubernetes.io/name=consumer-8803', 1);
    const missing = async (): Promise<string[]> => {
      const ids = new Set([...receivedIds(appLog), ...[...(await received('consumer-8803')).values()].flat()]);
      return sent.filter((id) => !ids.has(id));
    };
    await waitFor('every confirmed message in atguiguB, before or after the deletion', async () => (await missing()).length === 0)
      .catch(async (error: Error) => {
        const lost = await missing();
        throw new Error(`${error.message}: missing ${lost.join(', ')}\n--- the deleted pod's app ---\n${appLog}\n--- its sidecar ---\n` +
          sidecarLog.split('\n').filter((l) => !/"level":(20|10)/.test(l)).slice(-60).join('\n'));
      });
  }, 300_000);

  it('killing the leader operator pod hands over: the other replica reconciles', async () => {
    const holder = async (): Promise<string | undefined> =>
      (await getJson<{ spec: { holderIdentity?: string } }>('lease', '-n', system, 'bindery-operator')).spec.holderIdentity;
    const leader = (await holder())!.split('_')[0]!;
    await kubectl('delete', 'pod', '-n', system, leader, '--grace-period=0', '--force');
    const next = await waitFor('another leader', async () => {
      const now = await holder();
      return now && !now.startsWith(`${leader}_`) ? now : undefined;
    }, 90_000);
    expect(next.split('_')[0]).not.toBe(leader);
    await apply(JSON.stringify({
      apiVersion: 'bindery.io/v1alpha1', kind: 'StreamBinding', metadata: { name: 'after-handover' },
      spec: { direction: 'output', destination: 'afterHandover' },
    }));
    await waitFor('after-handover Ready', async () => {
      const binding = await getJson<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('streambinding', '-n', demo, 'after-handover');
      return binding.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    }, 60_000);
    await kubectl('delete', 'streambinding', '-n', demo, 'after-handover');
  }, 180_000);

  it('a StatefulSet\'s pods get their instance index and the instance count in the running sidecar', async () => {
    await apply(JSON.stringify({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'indexed' },
      spec: {
        replicas: 2, serviceName: 'indexed',
        selector: { matchLabels: { 'app.kubernetes.io/name': 'indexed' } },
        template: {
          metadata: {
            labels: { 'app.kubernetes.io/name': 'indexed', 'bindery.io/inject': 'true' },
            annotations: { 'bindery.io/bindings': 'input-b', 'bindery.io/app-port': '8803' },
          },
          spec: {
            securityContext: { runAsNonRoot: true },
            containers: [{ name: 'consumer', image: node.image, args: ['demo', 'consumer', '--port', '8803'] }],
          },
        },
      },
    }));
    const indexed = await waitForReadyPods(demo, 'app.kubernetes.io/name=indexed', 2, 300_000);
    for (const pod of indexed) {
      const env = await kubectl('exec', '-n', demo, pod.metadata!.name!, '-c', 'bindery-runtime', '--',
        'node', '-e', 'console.log(process.env.BINDERY_INSTANCE_INDEX + "/" + process.env.BINDERY_INSTANCE_COUNT)');
      expect(env.trim()).toBe(`${pod.metadata!.name!.split('-').pop()}/2`);
    }
    await kubectl('delete', 'statefulset', '-n', demo, 'indexed', '--cascade=foreground', '--wait=true');
  }, 420_000);
});

describe('moving the seed\'s bindings to Kafka in running pods', () => {
  it('editing each StreamBinding\'s binder moves it, no pod restarts, and the seed still holds', async () => {
    const before = new Map((await pods(demo, seedPods)).map((p) => [p.metadata!.uid!, restartsOf(p)]));
    await apply(externalService('kafka', 9092, node.hostAddress, node.kafkaPort));
    await apply(JSON.stringify({
      apiVersion: 'bindery.io/v1alpha1', kind: 'Binder', metadata: { name: 'kafka' },
      spec: { type: 'kafka', kafka: { brokers: ['kafka:9092'] } },
    }));
    await kubectl('patch', '-n', demo, 'streambinding', 'output', 'input-a', 'input-b', '--type', 'merge', '-p', '{"spec":{"binder":"kafka"}}');
    await waitFor('the StreamBindings Ready on kafka', async () => {
      const items = (await getJson<{ items: Array<{ status?: { binder?: string; conditions?: Array<{ type: string; status: string }> } }> }>(
        'streambindings', '-n', demo)).items;
      return items.every((i) => i.status?.binder === 'kafka' && i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    });
    // Each sidecar reads the ConfigMap the kubelet updates in place, and moves its bindings.
    for (const pod of await pods(demo, seedPods)) {
      await waitFor(`${pod.metadata!.name}'s sidecar on kafka`, async () => {
        const out = await kubectl('exec', '-n', demo, pod.metadata!.name!, '-c', 'bindery-runtime', '--', 'node', '-e',
          'fetch("http://127.0.0.1:7070/v1/bindings").then((r) => r.json()).then((b) => console.log(b.bindings.map((x) => x.binder).join()))');
        return out.trim().split(',').every((binder) => binder === 'kafka');
      }, 180_000);
    }
    const topic = await kafkaMessages('studyExchange');
    const sent = await send(10);
    await waitFor('the 10 in both groups, through Kafka', async () =>
      count(await received('consumer-8802'), sent) >= 10 && count(await received('consumer-8803'), sent) >= 10, 120_000);
    expect(count(await received('consumer-8803'), sent)).toBe(10);
    expect(await kafkaMessages('studyExchange')).toBe(topic + 10);
    const after = await pods(demo, seedPods);
    expect(new Map(after.map((p) => [p.metadata!.uid!, restartsOf(p)]))).toEqual(before);
    await printLogLines('consumer-8803', sent);
  }, 420_000);
});

describe('helm uninstall', () => {
  it('removes the operator and the webhook, and leaves the CRDs, the resources and the broker objects (deletionPolicy Retain)', async () => {
    await helm('uninstall', 'bindery', '--namespace', system, '--wait');
    expect(await kubectl('get', 'deployments', '-n', system, '-o', 'name')).toBe('');
    await expect(kubectl('get', 'mutatingwebhookconfiguration', `bindery-${system}`)).rejects.toThrow(/NotFound/);
    expect(await kubectl('get', 'crd', 'streambindings.bindery.io', 'binders.bindery.io', '-o', 'name')).toContain('streambindings.bindery.io');
    expect((await kubectl('get', 'streambindings', '-n', demo, '-o', 'name')).split('\n').filter(Boolean)).toHaveLength(3);
    expect(await managementApi('/queues/%2F/studyExchange.atguiguB')).toBeDefined();
  }, 180_000);
});

function restartsOf(pod: V1Pod): number {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].reduce((sum, s) => sum + s.restartCount, 0);
}

/** Messages in a Kafka topic (its end offsets summed), read from the host. */
async function kafkaMessages(topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'bindery-e2e', brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}
