/**
 * The seed scenario end to end on the real API server: the chart installed by the real helm
 * CLI (webhook by URL, no operator replicas: there is no kubelet), the operator and webhook
 * as a local `bindery operator`, `kubectl apply -f k8s/`, and then every pod that the
 * ReplicaSets created run as local processes: its injected sidecar with exactly the env and
 * config the kubelet would give it, and its app. `curl` the provider, count what arrives.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managementApi, testEnv } from '../support/env.ts';
import { freePort, httpsStatus, issueWebhookCertificate, repo, startBindery, waitFor, type LocalProcess } from './processes.ts';

const exec = promisify(execFile);
const suffix = randomBytes(4).toString('hex');
const namespace = `seed-${suffix}`;
const release = `bindery-e2e-${suffix}`;
const releaseNamespace = `bindery-system-${suffix}`;
// A vhost of its own keeps the seed's fixed names (studyExchange, its groups) apart from
// every other test that uses them on the same broker.
const vhost = `seed-vhost-${suffix}`;
const work = mkdtempSync(`${tmpdir()}/bindery-e2e-`);
const processes: LocalProcess[] = [];

const kubectl = async (...args: string[]): Promise<string> =>
  (await exec(testEnv().kubectl, ['--kubeconfig', testEnv().kubeconfig, ...args], { cwd: repo, maxBuffer: 16 << 20 })).stdout;
const helm = async (...args: string[]): Promise<string> =>
  (await exec(testEnv().helm, ['--kubeconfig', testEnv().kubeconfig, ...args], { cwd: repo, maxBuffer: 16 << 20 })).stdout;
const getJson = async <T>(...args: string[]): Promise<T> => JSON.parse(await kubectl('get', '-o', 'json', ...args)) as T;

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

/** A pod as the kubelet would run it here: its sidecar's and app's processes. */
interface LocalPod {
  name: string;
  deployment: string;
  sidecar: V1Container;
  app: V1Container;
  appPort: number;
  apiPort: number;
  opsPort: number;
  env: Record<string, string>;
  processes: { sidecar?: LocalProcess; app?: LocalProcess };
}

let webhookCa: Buffer;
let operator: LocalProcess;
let pods: LocalPod[] = [];
let configFile: string;

function fail(message: string, ...of: (LocalProcess | undefined)[]): Error {
  return new Error([message, ...of.filter((p) => p).map((p) => `--- ${p!.name} ---\n${p!.tail()}`)].join('\n'));
}

beforeAll(async () => {
  const env = testEnv();
  const rabbit = new URL(env.rabbitUrl);
  await rabbitAdmin('PUT', `/vhosts/${vhost}`, {});
  await rabbitAdmin('PUT', `/permissions/${vhost}/${decodeURIComponent(rabbit.username)}`, { configure: '.*', write: '.*', read: '.*' });

  const tls = await issueWebhookCertificate(work);
  webhookCa = readFileSync(tls.caFile);
  const webhookPort = await freePort();
  await kubectl('create', 'namespace', namespace);
  await helm(
    'install', release, `${repo}charts/bindery`,
    '--namespace', releaseNamespace, '--create-namespace',
    '--set', 'operator.replicas=0',
    '--set', `webhook.url=https://127.0.0.1:${webhookPort}/mutate`,
    '--set', `webhook.caBundle=${webhookCa.toString('base64')}`,
    // Only this test's namespace: the webhook (failurePolicy Fail) never sees other tests' pods.
    '--set', `webhook.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=${namespace}`,
  );
  const healthPort = await freePort();
  operator = startBindery('operator', [
    'operator',
    // The chart's ServiceAccount, not the admin: the operator runs with exactly the chart's RBAC.
    '--kubeconfig', await serviceAccountKubeconfig(),
    // Reconcile this test's namespace only; the Lease goes where the chart's Role allows it.
    '--namespace', namespace,
    '--leader-election-namespace', releaseNamespace,
    '--health-port', String(healthPort),
    '--metrics-port', String(healthPort),
    '--webhook-port', String(webhookPort),
    '--webhook-cert', tls.certFile,
    '--webhook-key', tls.keyFile,
  ], { BINDERY_SIDECAR_IMAGE: 'bindery/bindery:0.1.0' }, work);
  processes.push(operator);

  await waitFor('the local webhook to answer', async () => (await httpsStatus(`https://127.0.0.1:${webhookPort}/healthz`, webhookCa)) === 200, 120_000)
    .catch((error: Error) => { throw fail(error.message, operator); });

  await kubectl('apply', '--namespace', namespace, '-f', `${repo}k8s/`);
  // The seed names the broker as a cluster would (Service `rabbitmq`); here it is this machine's.
  await kubectl('patch', '--namespace', namespace, 'binder', 'rabbit', '--type', 'merge', '-p', JSON.stringify({
    spec: { rabbit: { host: rabbit.hostname, port: Number(rabbit.port || 5672), vhost } },
  }));
  await kubectl('patch', '--namespace', namespace, 'secret', 'rabbit-creds', '--type', 'merge', '-p', JSON.stringify({
    stringData: { username: decodeURIComponent(rabbit.username), password: decodeURIComponent(rabbit.password) },
  }));
}, 240_000);

/** A kubeconfig for the same API server that authenticates as the chart's ServiceAccount. */
async function serviceAccountKubeconfig(): Promise<string> {
  const token = (await kubectl('create', 'token', release, '--namespace', releaseNamespace, '--duration', '1h')).trim();
  const admin = JSON.parse(await kubectl('config', 'view', '--raw', '--minify', '-o', 'json')) as { clusters: Array<{ name: string }> };
  const cluster = admin.clusters[0]!;
  const file = `${work}/operator.kubeconfig`;
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [cluster],
    users: [{ name: 'operator', user: { token } }],
    contexts: [{ name: 'operator', context: { cluster: cluster.name, user: 'operator' } }],
    'current-context': 'operator',
  }));
  return file;
}

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop()));
  await kubectl('delete', 'namespace', namespace, '--wait=false').catch(() => {});
  await helm('uninstall', release, '--namespace', releaseNamespace).catch(() => {});
  await kubectl('delete', 'namespace', releaseNamespace, '--wait=false').catch(() => {});
  await rabbitAdmin('DELETE', `/vhosts/${vhost}`).catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

describe('the seed scenario on the real API server', () => {
  it('installs the chart with helm: CRDs, RBAC, the webhook by URL, certificates kept across upgrades', async () => {
    const crds = await kubectl('get', 'crd', '-o', 'name');
    expect(crds).toContain('streambindings.bindery.io');
    expect(crds).toContain('binders.bindery.io');
    const webhooks = await getJson<{ webhooks: Array<{ clientConfig: { url?: string }; failurePolicy: string }> }>(
      'mutatingwebhookconfiguration', `${release}-${releaseNamespace}`,
    );
    expect(webhooks.webhooks[0]!.clientConfig.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/mutate$/);
    expect(webhooks.webhooks[0]!.failurePolicy).toBe('Fail');

    // What the operator's ServiceAccount may do, asked of the API server's RBAC.
    const as = `--as=system:serviceaccount:${releaseNamespace}:${release}`;
    const can = (...args: string[]) => kubectl('auth', 'can-i', as, ...args).then((out) => out.trim(), () => 'no');
    expect(await can('watch', 'streambindings.bindery.io', '--all-namespaces')).toBe('yes');
    expect(await can('update', 'binders.bindery.io', '--subresource=status', '--namespace', namespace)).toBe('yes');
    expect(await can('get', 'secrets', '--namespace', namespace)).toBe('yes');
    expect(await can('list', 'secrets', '--all-namespaces')).toBe('no');
    expect(await can('watch', 'secrets', '--namespace', namespace)).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io', '--namespace', releaseNamespace)).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io', '--namespace', namespace)).toBe('no');
    expect(await can('list', 'pods', '--all-namespaces')).toBe('no');
    expect(await can('update', 'secrets', '--namespace', namespace)).toBe('no');
    expect(await can('delete', 'streambindings.bindery.io', '--namespace', namespace)).toBe('no');

    const secretName = `${release}-webhook-tls`;
    const before = await getJson<{ data: Record<string, string> }>('secret', '--namespace', releaseNamespace, secretName);
    await helm('upgrade', release, `${repo}charts/bindery`, '--namespace', releaseNamespace, '--reuse-values');
    const after = await getJson<{ data: Record<string, string> }>('secret', '--namespace', releaseNamespace, secretName);
    expect(after.data['tls.crt']).toBe(before.data['tls.crt']);
    expect(after.data['ca.crt']).toBe(before.data['ca.crt']);
  });

  it('injects the sidecar into every pod the ReplicaSets created, credentials by reference only', async () => {
    const expected: Record<string, { replicas: number; bindings: string; appPort?: string }> = {
      provider: { replicas: 1, bindings: 'output' },
      'consumer-8802': { replicas: 2, bindings: 'input-a', appPort: '8802' },
      'consumer-8803': { replicas: 1, bindings: 'input-b', appPort: '8803' },
    };
    const list = await waitFor('the ReplicaSets to create the seed pods', async () => {
      const found = (await getJson<{ items: V1Pod[] }>('pods', '--namespace', namespace, '-l', 'app.kubernetes.io/part-of=bindery-seed')).items;
      return found.length === 4 ? found : undefined;
    }, 60_000);

    pods = [];
    for (const pod of list) {
      const deployment = pod.metadata!.labels!['app.kubernetes.io/name']!;
      const want = expected[deployment]!;
      const sidecar = pod.spec!.initContainers![0]!;
      expect(sidecar.name).toBe('bindery-runtime');
      expect(sidecar.restartPolicy).toBe('Always');
      expect(sidecar.args).toEqual(['runtime', '--config', '/etc/bindery/bindery.yaml']);
      const env = Object.fromEntries(sidecar.env!.map((e) => [e.name, e]));
      expect(env.BINDERY_BINDINGS?.value).toBe(want.bindings);
      expect(env.BINDERY_APP_PORT?.value).toBe(want.appPort);
      expect(env.BINDERY_BINDER_RABBIT_PASSWORD?.valueFrom?.secretKeyRef).toEqual({ name: 'rabbit-creds', key: 'password', optional: false });
      expect(sidecar.env!.filter((e) => e.name.startsWith('BINDERY_BINDER_') && e.value !== undefined)).toEqual([]);
      expect(pod.spec!.volumes).toContainEqual(expect.objectContaining({ name: 'bindery-config', configMap: expect.objectContaining({ name: 'bindery-config' }) }));
      expect(sidecar.readinessProbe?.httpGet?.port).toBe('bindery-ops');
      expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      pods.push({
        name: pod.metadata!.name!,
        deployment,
        sidecar,
        app: pod.spec!.containers[0]!,
        appPort: await freePort(),
        apiPort: await freePort(),
        opsPort: await freePort(),
        env: {},
        processes: {},
      });
    }
    expect(pods.map((p) => p.deployment).sort()).toEqual(['consumer-8802', 'consumer-8802', 'consumer-8803', 'provider']);
  });

  it('refuses a pod that names an unknown binding, naming it, and leaves unlabelled pods alone', async () => {
    const pod = (name: string, labels: Record<string, string>) => JSON.stringify({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, labels, annotations: { 'bindery.io/bindings': 'output,orders-in' } },
      spec: { containers: [{ name: 'app', image: 'bindery/bindery:0.1.0' }] },
    });
    const apply = (manifest: string) => {
      writeFileSync(`${work}/pod.json`, manifest);
      return kubectl('apply', '--namespace', namespace, '-f', `${work}/pod.json`);
    };
    await expect(apply(pod('orders', { 'bindery.io/inject': 'true' }))).rejects.toThrow(/unknown StreamBinding "orders-in"/);
    await apply(pod('plain', {}));
    const plain = await getJson<V1Pod>('pod', '--namespace', namespace, 'plain');
    expect(plain.spec!.initContainers ?? []).toHaveLength(0);
    await kubectl('delete', 'pod', '--namespace', namespace, 'plain', '--wait=false');
  });

  it('ships a RabbitMQ for the seed (k8s/rabbitmq/) that the API server accepts, using the Binder\'s Secret', async () => {
    const out = await kubectl('apply', '--namespace', namespace, '--dry-run=server', '--validate=strict', '-f', `${repo}k8s/rabbitmq/`);
    expect(out).toContain('deployment.apps/rabbitmq created (server dry run)');
    expect(out).toContain('service/rabbitmq created (server dry run)');
    const binder = await getJson<{ spec: { rabbit: { credentialsSecret: { name: string } } } }>('binder', '--namespace', namespace, 'rabbit');
    expect(readFileSync(`${repo}k8s/rabbitmq/rabbitmq.yaml`, 'utf8')).toContain(`name: ${binder.spec.rabbit.credentialsSecret.name}`);
  });

  it('gives StatefulSet pods their index from the pod-index label and the count from the StatefulSet', async () => {
    const labels = { 'app.kubernetes.io/name': 'indexed' };
    writeFileSync(`${work}/statefulset.json`, JSON.stringify({
      apiVersion: 'apps/v1', kind: 'StatefulSet',
      metadata: { name: 'indexed' },
      spec: {
        replicas: 3,
        serviceName: 'indexed',
        // Parallel: with no kubelet here, pod 0 never gets Ready, and OrderedReady would stop there.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: labels },
        template: {
          metadata: { labels: { ...labels, 'bindery.io/inject': 'true' }, annotations: { 'bindery.io/bindings': 'input-a' } },
          spec: { containers: [{ name: 'app', image: 'bindery/bindery:0.1.0' }] },
        },
      },
    }));
    await kubectl('apply', '--namespace', namespace, '-f', `${work}/statefulset.json`);
    const indexed = await waitFor('the StatefulSet controller to create 3 pods', async () => {
      const found = (await getJson<{ items: V1Pod[] }>('pods', '--namespace', namespace, '-l', 'app.kubernetes.io/name=indexed')).items;
      return found.length === 3 ? found : undefined;
    }, 60_000);
    for (const pod of indexed) {
      const env = Object.fromEntries(pod.spec!.initContainers![0]!.env!.map((e) => [e.name, e]));
      expect(pod.metadata!.labels!['apps.kubernetes.io/pod-index']).toBe(pod.metadata!.name!.split('-').pop());
      expect(env.BINDERY_INSTANCE_INDEX?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.labels['apps.kubernetes.io/pod-index']");
      expect(env.BINDERY_INSTANCE_COUNT?.value).toBe('3');
    }
    await kubectl('delete', 'statefulset', '--namespace', namespace, 'indexed', '--wait=false');
  });

  it('runs each pod\'s sidecar with its env and config, and the seed holds: broadcast, competition, durability', async () => {
    expect(pods).toHaveLength(4);
    const bindings = ['output', 'input-a', 'input-b'];
    await waitFor('the StreamBindings to be Ready', async () => {
      const items = (await getJson<{ items: Array<{ metadata: { name: string }; status?: { conditions?: Array<{ type: string; status: string }> } }> }>(
        'streambindings', '--namespace', namespace,
      )).items;
      return bindings.every((name) => items.find((i) => i.metadata.name === name)?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }, 60_000).catch((error: Error) => { throw fail(error.message, operator); });

    // The ConfigMap as the kubelet would mount it, once it names this machine's broker.
    const config = await waitFor('the operator to render bindery-config for the local broker', async () => {
      const cm = await getJson<{ data: Record<string, string> }>('configmap', '--namespace', namespace, 'bindery-config');
      const text = cm.data['bindery.yaml'];
      return text?.includes(vhost) ? text : undefined;
    }, 30_000);
    expect(config).toContain('${BINDERY_BINDER_RABBIT_PASSWORD}');
    configFile = `${work}/bindery.yaml`;
    writeFileSync(configFile, config);

    const secret = await getJson<{ data: Record<string, string> }>('secret', '--namespace', namespace, 'rabbit-creds');
    for (const pod of pods) {
      pod.env = {};
      for (const e of pod.sidecar.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (e.value !== undefined) pod.env[e.name] = e.value;
        else if (ref?.name === 'rabbit-creds' && secret.data[ref.key] !== undefined) pod.env[e.name] = Buffer.from(secret.data[ref.key]!, 'base64').toString('utf8');
      }
      // Locally, pods share one network: each gets ports of its own.
      if (pod.env.BINDERY_APP_PORT) pod.env.BINDERY_APP_PORT = String(pod.appPort);
      startPod(pod);
    }
    for (const pod of pods) {
      await waitFor(`${pod.name}'s sidecar to be ready`, async () => (await fetch(`http://127.0.0.1:${pod.opsPort}/readyz`)).ok, 120_000)
        .catch((error: Error) => { throw fail(error.message, pod.processes.sidecar, pod.processes.app); });
      await waitFor(`${pod.name}'s app to listen`, async () => (await fetch(`http://127.0.0.1:${pod.appPort}/healthz`)).ok, 30_000)
        .catch((error: Error) => { throw fail(error.message, pod.processes.app); });
    }
    // Both members of atguiguA must consume before sending, or one of them could take all.
    await waitFor('two consumers on studyExchange.atguiguA and one on studyExchange.atguiguB', async () => {
      const a = await managementApi<{ consumers: number }>(`/queues/${vhost}/studyExchange.atguiguA`);
      const b = await managementApi<{ consumers: number }>(`/queues/${vhost}/studyExchange.atguiguB`);
      return a?.consumers === 2 && b?.consumers === 1;
    }, 30_000);

    const provider = pods.find((p) => p.deployment === 'provider')!;
    const groupA = pods.filter((p) => p.deployment === 'consumer-8802');
    const groupB = pods.find((p) => p.deployment === 'consumer-8803')!;
    const send = async (count: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const answer = await fetch(`http://127.0.0.1:${provider.appPort}/sendMessage`);
        const text = await answer.text();
        if (answer.status !== 200) throw fail(`GET /sendMessage: HTTP ${answer.status} ${text}`, provider.processes.sidecar, provider.processes.app);
        ids.push(text);
      }
      return ids;
    };
    const received = async (pod: LocalPod, ids: string[]): Promise<string[]> =>
      ((await (await fetch(`http://127.0.0.1:${pod.appPort}/received`)).json()) as { received: string[] }).received.filter((id) => ids.includes(id));

    // Broadcast across groups and competition within atguiguA.
    const sent = await send(10);
    await waitFor('every message in both groups', async () =>
      (await received(groupB, sent)).length === 10 && (await received(groupA[0]!, sent)).length + (await received(groupA[1]!, sent)).length >= 10, 30_000).catch((error: Error) => { throw fail(error.message, ...pods.flatMap((p) => [p.processes.sidecar, p.processes.app])); });
    const [a0, a1] = [await received(groupA[0]!, sent), await received(groupA[1]!, sent)];
    expect(await received(groupB, sent)).toHaveLength(10);
    expect(a0.length, 'first atguiguA pod').toBeGreaterThan(0);
    expect(a1.length, 'second atguiguA pod').toBeGreaterThan(0);
    expect(a0.length + a1.length).toBe(10);
    expect(a0.filter((id) => a1.includes(id))).toEqual([]);

    // Durability: atguiguB's only consumer is down while 4 are sent; they wait in its queue.
    await groupB.processes.sidecar!.stop();
    const whileDown = await send(4);
    await waitFor('atguiguA to get the 4', async () =>
      (await received(groupA[0]!, whileDown)).length + (await received(groupA[1]!, whileDown)).length === 4, 30_000);
    expect(await received(groupB, whileDown)).toHaveLength(0);
    startPod(groupB, 'sidecar');
    await waitFor('atguiguB to get, once back, the 4 sent while it was down', async () => (await received(groupB, whileDown)).length === 4, 60_000)
      .catch((error: Error) => { throw fail(error.message, groupB.processes.sidecar); });
  }, 300_000);
});

/** Starts the pod's sidecar (with its pod env) and app (with the pod's args), each on its local ports. */
function startPod(pod: LocalPod, only?: 'sidecar'): void {
  const args = (pod.sidecar.args ?? []).map((a) => (a === '/etc/bindery/bindery.yaml' ? configFile : a));
  const sidecar = startBindery(`${pod.name}-sidecar`, [...args, '--port', String(pod.apiPort), '--ops-port', String(pod.opsPort)], pod.env, work);
  pod.processes.sidecar = sidecar;
  processes.push(sidecar);
  if (only) return;
  const appArgs = [...(pod.app.args ?? [])];
  appArgs[appArgs.indexOf('--port') + 1] = String(pod.appPort);
  const app = startBindery(`${pod.name}-app`, [...appArgs, '--host', '127.0.0.1', '--sidecar', `http://127.0.0.1:${pod.apiPort}`], {}, work);
  pod.processes.app = app;
  processes.push(app);
}
