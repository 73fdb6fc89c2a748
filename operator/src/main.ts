/**
 * `bindery operator [--kubeconfig FILE] [--namespace NS] [--resync-period D] [--metrics-port P]
 * [--health-port P] [--webhook-port P --webhook-cert F --webhook-key F]`
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadKubeConfig } from './k8s/client.ts';
import { startProbeServer } from './http.ts';
import { DEFAULT_WORKERS } from './controller/controller.ts';
import { Operator } from './operator.ts';
import { startWebhook } from './webhook/server.ts';

const USAGE = `Usage: bindery operator [options]

  --kubeconfig FILE            kubeconfig to use (default: KUBECONFIG, ~/.kube/config, in-cluster)
  --namespace NS               watch one namespace only (default: all)
  --resync-period D            full resync period, e.g. 30s, 500ms, 2m (default 30s)
  --metrics-port P             Prometheus /metrics port (default 8080)
  --health-port P              /healthz and /readyz port (default 8081)
  --webhook-port P             serve the injection webhook on P (with --webhook-cert and --webhook-key)
  --webhook-cert F, --webhook-key F   TLS certificate and key of the webhook
  --leader-elect true|false    elect a leader through a Lease (default true)
  --leader-election-namespace NS      namespace of the Lease (default: --namespace, the pod's, or default)
  --max-retry-delay D          cap of the back-off of failed reconciles (default 60s)
  --workers N                  parallel reconciles per controller (default ${DEFAULT_WORKERS})`;

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text} (use e.g. 500ms, 30s, 2m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}

function podNamespace(): string | undefined {
  const file = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

export async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(argv);
    parseDuration(options['resync-period']);
    parseDuration(options['max-retry-delay']);
  } catch (error) {
    console.error(`bindery operator: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  return run(options);
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'resync-period': { type: 'string', default: '30s' },
      'metrics-port': { type: 'string', default: '8080' },
      'health-port': { type: 'string', default: '8081' },
      'webhook-port': { type: 'string' },
      'webhook-cert': { type: 'string' },
      'webhook-key': { type: 'string' },
      'leader-elect': { type: 'string', default: 'true' },
      'leader-election-namespace': { type: 'string' },
      'max-retry-delay': { type: 'string', default: '60s' },
      workers: { type: 'string', default: String(DEFAULT_WORKERS) },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

async function run(values: ReturnType<typeof parseOptions>): Promise<number> {
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const webhookFlags = [values['webhook-port'], values['webhook-cert'], values['webhook-key']];
  if (webhookFlags.some((v) => v !== undefined) && !webhookFlags.every((v) => v !== undefined)) {
    console.error('bindery operator: --webhook-port, --webhook-cert and --webhook-key go together\n\n' + USAGE);
    return 2;
  }
  const logger = pino({ name: 'bindery-operator', level: process.env.LOG_LEVEL ?? 'info' });
  const kubeConfig = loadKubeConfig(values.kubeconfig);
  const identity = `${process.env.HOSTNAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const leaderElect = values['leader-elect'] !== 'false';
  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  let shutdown: () => Promise<void> = async () => {};
  const operator: Operator = new Operator({
    kubeConfig,
    logger,
    namespace: values.namespace,
    resyncPeriodMs: parseDuration(values['resync-period']),
    retryMaxMs: parseDuration(values['max-retry-delay']),
    workers: Number(values.workers),
    ...(leaderElect && {
      leaderElection: { namespace: values['leader-election-namespace'] ?? values.namespace ?? podNamespace() ?? 'default', identity },
    }),
    // As controller-runtime: a replica that lost its Lease exits, and comes back as a candidate.
    onLostLeadership: () => {
      exitCode = 1;
      void shutdown();
    },
  });

  const metricsPort = Number(values['metrics-port']);
  const healthPort = Number(values['health-port']);
  const servers = [
    await startProbeServer({ port: healthPort, ready: () => operator.ready, ...(metricsPort === healthPort && { registry: operator.metrics.registry }) }),
  ];
  if (metricsPort !== healthPort) {
    servers.push(await startProbeServer({ port: metricsPort, ready: () => operator.ready, registry: operator.metrics.registry, probes: false }));
  }
  // The webhook serves on every replica, leader or not.
  const webhook =
    values['webhook-port'] && values['webhook-cert'] && values['webhook-key']
      ? await startWebhook({ port: Number(values['webhook-port']), certFile: values['webhook-cert'], keyFile: values['webhook-key'], kubeConfig, logger })
      : undefined;

  const done = new Promise<void>((resolve) => {
    const shutdownNow = async (): Promise<void> => {
      logger.info('shutting down');
      await operator.stop();
      await webhook?.close();
      await Promise.all(servers.map((s) => s.close()));
      resolve();
    };
    shutdown = () => (stopping ??= shutdownNow());
  });
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());

  await operator.start();
  logger.info({ namespace: values.namespace ?? '(all)', identity, leaderElect }, 'operator started');
  await done;
  return exitCode;
}
