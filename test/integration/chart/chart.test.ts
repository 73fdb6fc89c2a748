import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { INJECT_LABEL, OPS_PORT_NAME } from '../../../operator/src/webhook/patch.ts';
import { testEnv, waitForCrds } from '../../support/env.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const chart = `${repo}charts/bindery`;
/** The Prometheus Operator's own CRDs, so that the monitors are checked against the real schema. */
const prometheusOperatorCrds = `${repo}test/fixtures/prometheus-operator`;
const monitoringOn = ['monitoring.serviceMonitor.enabled=true', 'monitoring.podMonitor.enabled=true', 'monitoring.dashboard.enabled=true'];

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

async function helm(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(testEnv().helm, args, { cwd: repo, maxBuffer: 16 * 1024 * 1024 });
}

async function kubectl(...args: string[]): Promise<string> {
  return (await run(testEnv().kubectl, ['--kubeconfig', testEnv().kubeconfig, ...args])).stdout;
}

/** `kubectl apply --dry-run=server --validate=strict` of `yaml`: what the API server would store, refused on any unknown field. */
async function dryRun(yaml: string): Promise<string> {
  const dir = mkdtempSync(`${tmpdir()}/bindery-chart-`);
  try {
    writeFileSync(`${dir}/rendered.yaml`, yaml);
    return await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', `${dir}/rendered.yaml`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function render(...set: string[]): Promise<Manifest[]> {
  const { stdout } = await helm(
    'template', 'bindery', chart, '--namespace', 'bindery-system', '--kube-version', testEnv().kubernetesVersion,
    ...set.flatMap((s) => ['--set', s]),
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const find = (manifests: Manifest[], kind: string) => manifests.filter((m) => m.kind === kind);
const one = (manifests: Manifest[], kind: string): Manifest => {
  const found = find(manifests, kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const webhookOf = (manifests: Manifest[]): any => (one(manifests, 'MutatingWebhookConfiguration').webhooks as unknown[])[0];

/** Every (group, resource, verb) a set of rules grants, as `group/resource:verb`. */
const grants = (rules: Rule[]): string[] =>
  rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}`)))).sort();

describe('the bindery Helm chart', () => {
  beforeAll(async () => {
    await kubectl('apply', '--server-side', '--force-conflicts', '-f', prometheusOperatorCrds);
    await waitForCrds(['servicemonitors.monitoring.coreos.com', 'podmonitors.monitoring.coreos.com']);
  });

  it.each([
    ['defaults', []],
    ['out-of-cluster webhook', ['webhook.url=https://127.0.0.1:9443/mutate', 'webhook.caBundle=Zm9v', 'operator.replicas=0']],
    ['cert-manager', ['webhook.certManager.enabled=true']],
    ['monitoring', monitoringOn],
  ])('helm lint --strict is clean with %s', async (_case, set) => {
    const { stdout } = await helm('lint', '--strict', chart, ...set.flatMap((s) => ['--set', s]));
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it.each([
    ['defaults', [], []],
    ['out-of-cluster webhook', ['webhook.url=https://127.0.0.1:9443/mutate', 'webhook.caBundle=Zm9v', 'operator.replicas=0'], []],
    ['monitoring', monitoringOn, [
      'servicemonitor.monitoring.coreos.com/bindery-dry-run-operator',
      'podmonitor.monitoring.coreos.com/bindery-dry-run-sidecars',
      'configmap/bindery-dry-run-dashboard',
    ]],
  ])('renders with %s only objects the real API server accepts (server-side dry run, strict fields)', async (_case, set, expected) => {
    const { stdout } = await helm(
      'template', 'bindery-dry-run', chart, '--namespace', 'default', '--kube-version', testEnv().kubernetesVersion,
      ...set.flatMap((s) => ['--set', s]),
    );
    const applied = await dryRun(stdout);
    expect(applied.trim().split('\n').every((line) => line.endsWith('(server dry run)'))).toBe(true);
    expect(applied).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/bindery-dry-run-default');
    expect(applied).toContain('service/bindery-dry-run-metrics');
    for (const object of expected) expect(applied).toContain(`${object} created (server dry run)`);
  });

  it('dry-runs the monitors against the Prometheus Operator\'s schema: a field it does not know is refused', async () => {
    const podMonitor = one(await render('monitoring.podMonitor.enabled=true'), 'PodMonitor') as Manifest & { spec: { podMetricsEndpoints: object[] } };
    podMonitor.metadata.namespace = 'default';
    podMonitor.spec.podMetricsEndpoints = [{ ...podMonitor.spec.podMetricsEndpoints[0], portName: OPS_PORT_NAME }];
    await expect(dryRun(stringify(podMonitor))).rejects.toThrow('unknown field "spec.podMetricsEndpoints[0].portName"');
  });

  it('ships exactly the CRDs of crds/ (one source of truth: npm run gen:crds writes both)', () => {
    const generated = readdirSync(`${repo}crds`).filter((f) => f.endsWith('.yaml')).sort();
    const shipped = readdirSync(`${chart}/crds`).filter((f) => f.endsWith('.yaml')).sort();
    expect(shipped).toEqual(generated);
    for (const file of generated) {
      expect(readFileSync(`${chart}/crds/${file}`, 'utf8'), file).toBe(readFileSync(`${repo}crds/${file}`, 'utf8'));
    }
  });

  it('runs two operator replicas serving the webhook over the generated certificate, non-root', async () => {
    const manifests = await render();
    expect(one(manifests, 'PodDisruptionBudget')).toMatchObject({ spec: { minAvailable: 1 } });
    const deployment = one(manifests, 'Deployment') as Manifest & { spec: { replicas: number; template: { spec: { containers: Array<Record<string, unknown>> } } } };
    expect(deployment.spec.replicas).toBe(2);
    const container = deployment.spec.template.spec.containers[0]!;
    expect(container.image).toBe('bindery/bindery:0.1.0');
    expect(container.args).toEqual([
      'operator',
      '--webhook-port=9443',
      '--webhook-cert=/etc/bindery/webhook-tls/tls.crt',
      '--webhook-key=/etc/bindery/webhook-tls/tls.key',
      '--resync-period=30s',
      '--health-port=8081',
      '--metrics-port=8080',
    ]);
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    const env = Object.fromEntries((container.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
    expect(env.BINDERY_SIDECAR_IMAGE).toBe('bindery/bindery:0.1.0');
    expect(JSON.parse(env.BINDERY_SIDECAR_RESOURCES!)).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } });

    const webhook = webhookOf(manifests);
    expect(webhook).toMatchObject({
      name: 'inject.bindery.io',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      reinvocationPolicy: 'IfNeeded',
      objectSelector: { matchLabels: { 'bindery.io/inject': 'true' } },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
      clientConfig: { service: { name: 'bindery-webhook', namespace: 'bindery-system', path: '/mutate', port: 443 } },
    });
    expect(webhook.namespaceSelector.matchExpressions).toContainEqual({
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: ['kube-system', 'kube-node-lease', 'bindery-system'],
    });

    // The caBundle the API server trusts signed the serving certificate, for the Service's name.
    const secret = one(manifests, 'Secret') as Manifest & { data: Record<string, string> };
    const pem = (b64: string) => Buffer.from(b64, 'base64');
    const ca = new X509Certificate(pem(webhook.clientConfig.caBundle));
    const serving = new X509Certificate(pem(secret.data['tls.crt']!));
    expect(secret.data['ca.crt']).toBe(webhook.clientConfig.caBundle);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.subjectAltName).toContain('DNS:bindery-webhook.bindery-system.svc');
  });

  it.each([
    ['Ignore', 'Never'],
    ['Fail', 'IfNeeded'],
  ])('takes failurePolicy %s and reinvocationPolicy %s from values', async (failurePolicy, reinvocationPolicy) => {
    const webhook = webhookOf(await render(`webhook.failurePolicy=${failurePolicy}`, `webhook.reinvocationPolicy=${reinvocationPolicy}`));
    expect(webhook.failurePolicy).toBe(failurePolicy);
    expect(webhook.reinvocationPolicy).toBe(reinvocationPolicy);
  });

  it('points the API server at an out-of-cluster webhook by URL', async () => {
    const manifests = await render('webhook.url=https://127.0.0.1:9443/mutate', 'webhook.caBundle=Zm9v', 'operator.replicas=0');
    expect(webhookOf(manifests).clientConfig).toEqual({ url: 'https://127.0.0.1:9443/mutate', caBundle: 'Zm9v' });
    expect((one(manifests, 'Deployment') as Manifest & { spec: { replicas: number } }).spec.replicas).toBe(0);
    expect(find(manifests, 'Pod')).toHaveLength(0);
    expect(find(manifests, 'PodDisruptionBudget')).toHaveLength(0);
  });

  it('lets cert-manager issue the certificate and inject the CA when enabled', async () => {
    const manifests = await render('webhook.certManager.enabled=true');
    expect(find(manifests, 'Secret')).toHaveLength(0);
    expect(one(manifests, 'Certificate')).toMatchObject({ spec: { secretName: 'bindery-webhook-tls', issuerRef: { name: 'bindery-selfsigned', kind: 'Issuer' } } });
    expect(one(manifests, 'MutatingWebhookConfiguration').metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': 'bindery-system/bindery-webhook' });
    expect(webhookOf(manifests).clientConfig.caBundle).toBeUndefined();
  });

  it('grants cluster-wide only what the operator and webhook use, and leases only in its namespace', async () => {
    const manifests = await render();
    const clusterRole = one(manifests, 'ClusterRole') as Manifest & { rules: Rule[] };
    expect(grants(clusterRole.rules)).toEqual(
      [
        ...['get', 'list', 'watch', 'patch'].flatMap((v) => [`bindery.io/binders:${v}`, `bindery.io/streambindings:${v}`]),
        'bindery.io/binders/status:update',
        'bindery.io/streambindings/status:update',
        'bindery.io/binders/finalizers:update',
        'bindery.io/streambindings/finalizers:update',
        'core/secrets:get',
        ...['get', 'create', 'update', 'delete'].map((v) => `core/configmaps:${v}`),
        'core/events:create',
        'apps/statefulsets:get',
      ].sort(),
    );
    expect(JSON.stringify(clusterRole.rules)).not.toContain('*');
    const binding = one(manifests, 'ClusterRoleBinding') as Manifest & { subjects: unknown[] };
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'bindery', namespace: 'bindery-system' }]);

    const role = one(manifests, 'Role') as Manifest & { rules: Rule[] };
    expect(role.metadata.namespace).toBe('bindery-system');
    expect(grants(role.rules)).toEqual(['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:update']);
  });

  it('has a helm test that calls the webhook Service over TLS with the chart\'s CA', async () => {
    const pod = one(await render(), 'Pod') as Manifest & { spec: { containers: Array<{ command: string[] }> } };
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(pod.spec.containers[0]!.command.join(' ')).toContain("bindery-webhook.bindery-system.svc");
  });

  it.each([
    ['webhook.failurePolicy=Sometimes', 'failurePolicy'],
    ['operator.replicas=-1', 'replicas'],
    ['webhook.url=http://insecure/mutate', 'url'],
    ['monitoring.serviceMonitor.interval=soon', 'interval'],
    ['monitoring.dashboard.label.key=', 'key'],
  ])('values.schema.json refuses %s', async (set, field) => {
    await expect(render(set)).rejects.toThrow(field);
  });

  describe('monitoring (Prometheus Operator and Grafana)', () => {
    const monitoringKinds = (manifests: Manifest[]) =>
      manifests.filter((m) => m.apiVersion === 'monitoring.coreos.com/v1' || (m.kind === 'ConfigMap' && m.metadata.name.endsWith('-dashboard'))).map((m) => m.kind);

    it.each([
      ['nothing by default', [], []],
      ['the ServiceMonitor alone', ['monitoring.serviceMonitor.enabled=true'], ['ServiceMonitor']],
      ['the PodMonitor alone', ['monitoring.podMonitor.enabled=true'], ['PodMonitor']],
      ['the dashboard alone', ['monitoring.dashboard.enabled=true'], ['ConfigMap']],
      ['all three', monitoringOn, ['ConfigMap', 'PodMonitor', 'ServiceMonitor']],
    ])('renders %s', async (_case, set, kinds) => {
      expect(monitoringKinds(await render(...set)).sort()).toEqual(kinds);
    });

    it("has the ServiceMonitor scrape the operator's metrics port, through a Service of its own", async () => {
      const manifests = await render('monitoring.serviceMonitor.enabled=true', 'monitoring.labels.release=kube-prometheus-stack');
      const monitor = one(manifests, 'ServiceMonitor') as Manifest & { spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: unknown; endpoints: Array<Record<string, unknown>> } };
      expect(monitor.metadata).toMatchObject({ namespace: 'bindery-system', labels: { release: 'kube-prometheus-stack' } });
      expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['bindery-system'] });
      expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);

      type Service = Manifest & { metadata: { labels: Record<string, string> }; spec: { selector: Record<string, string>; ports: Array<{ name: string; targetPort: string }> } };
      const services = find(manifests, 'Service') as Service[];
      const selected = services.filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels[k] === v));
      expect(selected.map((s) => s.metadata.name)).toEqual(['bindery-metrics']);
      const port = selected[0]!.spec.ports.find((p) => p.name === 'metrics');

      // ... whose target is the operator container's port that --metrics-port serves.
      const container = (one(manifests, 'Deployment') as Manifest & { spec: { template: { spec: { containers: Array<{ args: string[]; ports: Array<{ name: string; containerPort: number }> }> } } } })
        .spec.template.spec.containers[0]!;
      const containerPort = container.ports.find((p) => p.name === port?.targetPort);
      expect(container.args).toContain(`--metrics-port=${containerPort?.containerPort}`);
      expect(selected[0]!.spec.selector).toEqual((one(manifests, 'Deployment') as Manifest & { spec: { selector: { matchLabels: object } } }).spec.selector.matchLabels);
    });

    it('has the PodMonitor scrape every injected pod on the sidecar ops port, by the name the webhook gives it', async () => {
      const podMonitor = (...set: string[]) => render('monitoring.podMonitor.enabled=true', ...set).then((m) => one(m, 'PodMonitor')) as Promise<Manifest & { spec: Record<string, unknown> }>;
      expect((await podMonitor()).spec).toEqual({
        selector: { matchLabels: { [INJECT_LABEL]: 'true' } },
        namespaceSelector: { any: true },
        podMetricsEndpoints: [{ port: OPS_PORT_NAME, path: '/metrics', interval: '30s', scrapeTimeout: '10s' }],
      });
      const narrowed = await podMonitor('monitoring.podMonitor.namespaceSelector.any=false', 'monitoring.podMonitor.namespaceSelector.matchNames={shop,billing}', 'monitoring.podMonitor.interval=15s');
      expect(narrowed.spec).toMatchObject({ namespaceSelector: { any: false, matchNames: ['shop', 'billing'] }, podMetricsEndpoints: [{ interval: '15s' }] });
    });

    it("ships the dashboard in a ConfigMap with the Grafana sidecar's label, or the one given", async () => {
      type ConfigMap = Manifest & { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; data: Record<string, string> };
      const shipped = readFileSync(`${chart}/dashboards/bindery.json`, 'utf8');
      const byDefault = one(await render('monitoring.dashboard.enabled=true'), 'ConfigMap') as ConfigMap;
      expect(byDefault.metadata).toMatchObject({ name: 'bindery-dashboard', namespace: 'bindery-system', labels: { grafana_dashboard: '1' } });
      expect(byDefault.data['bindery.json']).toBe(shipped.trimEnd());
      expect(JSON.parse(byDefault.data['bindery.json']!)).toMatchObject({ title: 'Bindery', uid: 'bindery' });

      const configured = one(await render(
        'monitoring.dashboard.enabled=true', 'monitoring.dashboard.namespace=monitoring', 'monitoring.dashboard.label.key=grafana.io/dashboard',
        'monitoring.dashboard.label.value=bindery', 'monitoring.dashboard.annotations.grafana_folder=Messaging',
      ), 'ConfigMap') as ConfigMap;
      expect(configured.metadata.namespace).toBe('monitoring');
      expect(configured.metadata.labels['grafana.io/dashboard']).toBe('bindery');
      expect(configured.metadata.labels.grafana_dashboard).toBeUndefined();
      expect(configured.metadata.annotations).toEqual({ grafana_folder: 'Messaging' });
    });
  });
});
