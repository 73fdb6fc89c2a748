/**
 * What Prometheus and Grafana read from Bindery, judged by Prometheus' own promtool: the
 * /metrics of a real sidecar and a real operator (`bindery runtime` and `bindery operator` as
 * processes, after traffic so that every metric has samples) pass `promtool check metrics`,
 * and every query of the chart's Grafana dashboard parses and names only metrics and labels
 * that those endpoints expose.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startBindery, type BinderyProcess } from '../../support/bindery-process.ts';
import { testEnv } from '../../support/env.ts';
import { rawKafka } from '../kafka/support.ts';
import { applyCrds, createBinding, createNamespace, createRabbitBinder, kube, suffix, teardown, waitForCondition } from '../operator/support.ts';
import { freePort, PushTarget, unique, waitFor } from '../runtime/support.ts';

const dashboard = JSON.parse(readFileSync(fileURLToPath(new URL('../../../charts/bindery/dashboards/bindery.json', import.meta.url)), 'utf8')) as Dashboard;
const dir = mkdtempSync(`${tmpdir()}/bindery-prometheus-`);
const processes: BinderyProcess[] = [];
const raw = rawKafka();
let app: PushTarget;
let namespace: string | undefined;
let sidecarMetrics = '';
let operatorMetrics = '';

interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
}

/** Every metric family the spec and the operator define; each must have samples. */
const SIDECAR_METRICS = [
  'bindery_messages_sent_total', 'bindery_send_duration_seconds_bucket', 'bindery_messages_received_total', 'bindery_deliveries_total',
  'bindery_delivery_duration_seconds_bucket', 'bindery_consumer_lag', 'bindery_binder_up',
];
const OPERATOR_METRICS = [
  'bindery_operator_reconciles_total', 'bindery_operator_reconcile_errors_total', 'bindery_operator_reconcile_duration_seconds_bucket',
  'bindery_operator_queue_depth', 'bindery_operator_broker_calls_total', 'bindery_operator_leader',
];
/** Labels Prometheus adds to every scraped series of a PodMonitor or ServiceMonitor target. */
const TARGET_LABELS = ['namespace', 'pod', 'container', 'endpoint', 'service', 'job', 'instance'];

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(testEnv().promtool, args, { encoding: 'utf8', ...(input !== undefined && { input }) });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

const text = async (url: string): Promise<string> => (await fetch(url)).text();
const hasSamples = (metrics: string, name: string): boolean => new RegExp(`^${name}(\\{| )`, 'm').test(metrics);

/** Each series name of an exposition text, with the label names seen on it. */
function exposed(metrics: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of metrics.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!match) continue;
    const labels = series.get(match[1]!) ?? new Set<string>();
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(label[1]!);
    series.set(match[1]!, labels);
  }
  return series;
}

/** A dashboard query as Prometheus would get it from Grafana: variables and macros filled in. */
const asPromQL = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replace(/\$\{?(\w+)\}?/g, '.*');

const queries = (): string[] => dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => asPromQL(target.expr)));

beforeAll(async () => {
  await applyCrds();
  // The sidecar: Kafka, an output and a group input pushing to an app that fails its first
  // push (a retry, then acks), so that every metric, consumer lag included, has samples.
  const destination = unique('monitoring');
  const group = unique('dashboards');
  raw.track({ topics: [destination, `error.${destination}.${group}`], groups: [group] });
  app = await PushTarget.start();
  app.statuses = [500, 200];
  const [port, opsPort] = [await freePort(), await freePort()];
  const config = `${dir}/bindery.yaml`;
  writeFileSync(config, stringify({
    binders: { kafka: { type: 'kafka', kafka: { brokers: testEnv().kafkaBrokers } } },
    bindings: {
      orders: { direction: 'output', destination },
      billing: { direction: 'input', destination, group, consumer: { backOffInitialInterval: 50, backOffMaxInterval: 100 } },
    },
    app: { port: app.port },
  }));
  const sidecar = startBindery(['runtime', '--config', config, '--port', String(port), '--ops-port', String(opsPort)]);
  processes.push(sidecar);
  await waitFor(`the input to consume (output so far: ${sidecar.output()})`, async () => {
    const { bindings } = (await (await fetch(`http://127.0.0.1:${port}/v1/bindings`)).json()) as { bindings: Array<{ name: string; consuming?: boolean }> };
    return bindings.find((b) => b.name === 'billing')?.consuming === true;
  }, 60_000);
  for (const id of [1, 2, 3]) {
    const sent = await fetch(`http://127.0.0.1:${port}/v1/send/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
    expect(sent.status).toBe(202);
  }
  sidecarMetrics = await waitFor('samples of every sidecar metric', async () => {
    const metrics = await text(`http://127.0.0.1:${opsPort}/metrics`);
    return app.received.length >= 4 && SIDECAR_METRICS.every((name) => hasSamples(metrics, name)) ? metrics : undefined;
  }, 30_000);

  // The operator: one Binder it connects to and provisions a binding on, and one whose broker
  // refuses connections (a reconcile error), so that every operator metric has samples.
  namespace = await createNamespace('monitoring');
  await createRabbitBinder(namespace, 'rabbit', { default: true });
  await kube().custom.createNamespacedCustomObject({
    group: 'bindery.io', version: 'v1alpha1', namespace, plural: 'binders',
    body: { apiVersion: 'bindery.io/v1alpha1', kind: 'Binder', metadata: { name: 'nowhere' }, spec: { type: 'rabbit', rabbit: { host: '127.0.0.1', port: await freePort() } } },
  });
  await createBinding(namespace, 'orders', { direction: 'output', destination: `orders-${suffix()}` });
  const metricsPort = await freePort();
  const operator = startBindery([
    'operator', '--kubeconfig', testEnv().kubeconfig, '--namespace', namespace, '--leader-election-namespace', namespace,
    '--metrics-port', String(metricsPort), '--health-port', String(await freePort()), '--max-retry-delay', '1s',
  ]);
  processes.push(operator);
  await waitForCondition(namespace, 'streambindings', 'orders', 'True', 'Provisioned', 90_000);
  operatorMetrics = await waitFor(`samples of every operator metric (output so far: ${operator.output()})`, async () => {
    const metrics = await text(`http://127.0.0.1:${metricsPort}/metrics`);
    return OPERATOR_METRICS.every((name) => hasSamples(metrics, name)) ? metrics : undefined;
  }, 30_000);
});

afterAll(async () => {
  // The operator removes the StreamBindings' finalizers, so it goes after them.
  if (namespace) await teardown(namespace, undefined);
  for (const process of processes.reverse()) await process.stop();
  await app?.close();
  await raw.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('promtool check metrics', () => {
  it.each([
    ['sidecar', () => sidecarMetrics],
    ['operator', () => operatorMetrics],
  ])("passes the %s's /metrics without a lint complaint", (_process, metrics) => {
    expect(promtool(['check', 'metrics'], metrics())).toEqual({ status: 0, output: '' });
  });

  it('complains about a badly named metric (the check is real)', () => {
    const bad = '# HELP orders Orders.\n# TYPE orders counter\norders 1\n';
    expect(promtool(['check', 'metrics'], bad)).toMatchObject({ status: 3, output: expect.stringContaining('counter metrics should have "_total" suffix') });
  });
});

describe('the Grafana dashboard', () => {
  it('shows messages in and out, send latency, delivery outcomes, consumer lag and binder up', () => {
    const used = queries().join('\n');
    for (const name of ['bindery_messages_sent_total', 'bindery_messages_received_total', 'bindery_send_duration_seconds_bucket', 'bindery_deliveries_total', 'bindery_consumer_lag', 'bindery_binder_up']) {
      expect(used, name).toContain(name);
    }
    expect(used).toMatch(/histogram_quantile\(0\.99, .*bindery_send_duration_seconds_bucket/);
  });

  it('has only queries that parse (each one checked by promtool as a recording rule)', () => {
    const file = `${dir}/dashboard-rules.yaml`;
    const rules = queries().map((expr, i) => ({ record: `bindery:dashboard_query:${i}`, expr }));
    writeFileSync(file, stringify({ groups: [{ name: 'bindery-dashboard', rules }] }));
    expect(promtool(['check', 'rules', file])).toEqual({ status: 0, output: `Checking ${file}\n  SUCCESS: ${rules.length} rules found` });

    writeFileSync(file, stringify({ groups: [{ name: 'broken', rules: [{ record: 'broken', expr: 'sum by (binding (rate(bindery_deliveries_total[1m]))' }] }] }));
    expect(promtool(['check', 'rules', file]).status).toBe(1);
  });

  it('names only metrics and labels that the sidecar and the operator expose', () => {
    const series = new Map([...exposed(sidecarMetrics), ...exposed(operatorMetrics)]);
    for (const query of queries()) {
      const metrics = [...query.matchAll(/\b(bindery_[a-z_]+)\b/g)].map((m) => m[1]!);
      expect(metrics.length, query).toBeGreaterThan(0);
      for (const metric of metrics) expect(series.has(metric), `${metric} in ${query}`).toBe(true);
      const known = new Set([...TARGET_LABELS, ...metrics.flatMap((metric) => [...(series.get(metric) ?? [])])]);
      const grouped = [...query.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
      const matched = [...query.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)=~?"/g)].map((m) => m[1]!);
      for (const label of [...grouped, ...matched]) expect(known.has(label), `label ${label} in ${query}`).toBe(true);
    }
  });
});
