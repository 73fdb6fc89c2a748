/**
 * The operator assembled: informers on Binders and StreamBindings; the Binder, StreamBinding
 * and ConfigMap controllers behind work queues; a periodic resync; leader election. Informers
 * run on every replica (a warm cache for a fast takeover); controllers run on the leader only.
 * Secrets are read one at a time, only those a Binder names (k8s/secrets.ts).
 */
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION, type Binder, type StreamBinding } from './api/types.ts';
import { BinderReconciler } from './controller/binder.ts';
import { resolveBinderName } from './controller/binders.ts';
import { ConfigMapWriter } from './controller/configmap.ts';
import { Controller, processQueue } from './controller/controller.ts';
import { conditionStatus } from './controller/conditions.ts';
import { StreamBindingReconciler } from './controller/streambinding.ts';
import { makeClients, type KubeClients } from './k8s/client.ts';
import { KubeEventRecorder } from './k8s/events.ts';
import { SupervisedInformer } from './k8s/informer.ts';
import { LeaderElector } from './k8s/leader.ts';
import { ExponentialBackoff, WorkQueue } from './k8s/queue.ts';
import { ResourceClient } from './k8s/resources.ts';
import { SecretReader } from './k8s/secrets.ts';
import { OperatorMetrics } from './metrics.ts';
import { BrokerCalls, type SessionFactory } from '../../topology/session.ts';
import { BrokerPool } from '../../topology/pool.ts';

/**
 * Changes in one namespace within this window make one ConfigMap write: a burst of a thousand
 * StreamBindings would otherwise render and write the whole namespace's config a thousand times.
 */
const CONFIG_BATCH_MS = 1_000;

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Watch one namespace only; all namespaces when absent. */
  namespace?: string;
  resyncPeriodMs?: number;
  /** Back-off of failed reconciles: first delay and cap. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How often waiting bindings (for consumers to leave, a queue to drain) look again. */
  pollMs?: number;
  workers?: number;
  metrics?: OperatorMetrics;
  /** Leader election; absent: this process reconciles alone. */
  leaderElection?: { namespace: string; name?: string; identity: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Called when leadership is lost: the process should exit, as controller-runtime does. */
  onLostLeadership?: () => void;
  connect?: SessionFactory;
}

export class Operator {
  readonly metrics: OperatorMetrics;
  readonly clients: KubeClients;
  readonly pool: BrokerPool;
  readonly binders: SupervisedInformer<Binder>;
  readonly bindings: SupervisedInformer<StreamBinding>;
  readonly binderController: Controller<Binder>;
  readonly bindingController: Controller<StreamBinding>;
  private readonly configQueue: WorkQueue;
  private readonly configWriter: ConfigMapWriter;
  private configWorkers: Promise<void>[] = [];
  private elector: LeaderElector | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private leading = false;
  private synced = false;
  /** Last seen (generation, Ready, default) of each Binder: bindings are woken only when it changes. */
  private readonly binderStates = new Map<string, string>();
  /** Last seen (generation, deletion) of each StreamBinding. */
  private readonly bindingStates = new Map<string, string>();

  constructor(private readonly options: OperatorOptions) {
    const { kubeConfig, logger, namespace } = options;
    this.metrics = options.metrics ?? new OperatorMetrics();
    this.clients = makeClients(kubeConfig);
    const { custom, core } = this.clients;
    const events = new KubeEventRecorder(core, logger);
    const queue = () => new WorkQueue({ backoff: new ExponentialBackoff(options.retryBaseMs ?? 100, options.retryMaxMs ?? 60_000) });

    this.pool = new BrokerPool({
      connect: options.connect,
      logger,
      calls: new BrokerCalls(this.metrics.brokerCalls),
      onDown: (binderKey) => {
        logger.warn({ binder: binderKey }, 'broker connection lost');
        const [ns, name] = binderKey.split('/') as [string, string];
        this.binderController.enqueue(ns, name);
        this.wakeBindingsOf(ns, name);
      },
    });

    const customPath = (plural: string) =>
      namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}` : `/apis/${GROUP}/${VERSION}/${plural}`;
    const listCustom = (plural: string) => async (): Promise<KubernetesListObject<KubernetesObject>> =>
      (namespace
        ? await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })
        : await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as KubernetesListObject<KubernetesObject>;

    this.binders = new SupervisedInformer<Binder>({
      name: 'binders', kubeConfig, logger, path: customPath('binders'),
      list: listCustom('binders'),
    });
    this.bindings = new SupervisedInformer<StreamBinding>({
      name: 'streambindings', kubeConfig, logger, path: customPath('streambindings'),
      list: listCustom('streambindings'),
    });
    // Only the Secrets a Binder names, read when it needs them; their values never leave brokerSettings.
    const secrets = new SecretReader(core);

    const controllerDeps = { events, logger, metrics: this.metrics, workers: options.workers };
    this.binderController = new Controller(
      new BinderReconciler({
        binders: this.binders, secrets, pool: this.pool,
        client: new ResourceClient<Binder>(custom, 'binders'),
      }),
      { ...controllerDeps, queue: queue() },
    );
    this.bindingController = new Controller(
      new StreamBindingReconciler({
        bindings: this.bindings, binders: this.binders, secrets, pool: this.pool, events, logger,
        client: new ResourceClient<StreamBinding>(custom, 'streambindings'),
        pollMs: options.pollMs,
      }),
      { ...controllerDeps, queue: queue() },
    );
    this.configQueue = queue();
    this.configWriter = new ConfigMapWriter(core, this.binders, this.bindings);

    this.binders.onChange((binder, event) => this.onBinderChange(binder, event));
    this.bindings.onChange((binding, event) => {
      const { namespace, name } = binding.metadata;
      // As controller-runtime's GenerationChangedPredicate: the operator's own status and
      // finalizer writes come back as updates, and must not reconcile everything twice more.
      const state = `${binding.metadata.generation}|${binding.metadata.deletionTimestamp ?? ''}`;
      const key = `${namespace}/${name}`;
      if (event === 'delete') this.bindingStates.delete(key);
      else if (this.bindingStates.get(key) === state) return;
      else this.bindingStates.set(key, state);
      this.bindingController.enqueue(namespace, name);
      this.configQueue.addAfter(namespace, CONFIG_BATCH_MS);
    });
  }

  /** Starts the informers, then campaigns for leadership; resolves once the caches are synced. */
  async start(): Promise<void> {
    await Promise.all([this.binders.start(), this.bindings.start()]);
    await Promise.all([this.binders.whenSynced(), this.bindings.whenSynced()]);
    this.synced = true;
    const election = this.options.leaderElection;
    if (!election) {
      this.startLeading();
      return;
    }
    this.elector = new LeaderElector({ coordination: this.clients.coordination, logger: this.options.logger, name: election.name ?? 'bindery-operator', ...election });
    void this.elector.run(
      () => this.startLeading(),
      () => {
        this.metrics.leader.set(0);
        this.options.onLostLeadership?.();
      },
    );
  }

  get ready(): boolean {
    return this.synced;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Puts every object into its queue: the level-based safety net against missed events and broker drift. */
  resync(): void {
    this.pool.newCheckRound();
    for (const binder of this.binders.list()) this.binderController.enqueue(binder.metadata.namespace, binder.metadata.name);
    for (const binding of this.bindings.list()) this.bindingController.enqueue(binding.metadata.namespace, binding.metadata.name);
    const namespaces = new Set([...this.binders.list(), ...this.bindings.list()].map((o) => o.metadata.namespace));
    for (const ns of namespaces) this.configQueue.add(ns);
  }

  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.elector?.stop();
    await Promise.all([this.binderController.stop(), this.bindingController.stop()]);
    this.configQueue.shutDown();
    await Promise.all(this.configWorkers);
    await Promise.all([this.binders.stop(), this.bindings.stop()]);
    await this.pool.closeAll();
    this.leading = false;
    this.metrics.leader.set(0);
  }

  private startLeading(): void {
    this.leading = true;
    this.metrics.leader.set(1);
    // The first resync before the workers: its keys then join those the informers' adds queued,
    // instead of queueing each key again behind its own first reconcile.
    this.resync();
    this.binderController.start();
    this.bindingController.start();
    const deps = { queue: this.configQueue, metrics: this.metrics, logger: this.options.logger };
    this.configWorkers = [processQueue('configmap', (ns) => this.configWriter.reconcile(ns), deps)];
    const period = this.options.resyncPeriodMs ?? 30_000;
    this.resyncTimer = setInterval(() => this.resync(), period);
    this.resyncTimer.unref();
  }

  private onBinderChange(binder: Binder, event: 'add' | 'update' | 'delete'): void {
    const { namespace, name } = binder.metadata;
    const key = `${namespace}/${name}`;
    const spec = `${binder.metadata.generation}|${binder.spec.default}|${binder.metadata.deletionTimestamp ?? ''}|${event === 'delete'}`;
    const state = `${spec}|${conditionStatus(binder.status?.conditions, 'Ready')}`;
    const previous = this.binderStates.get(key);
    if (event === 'delete') this.binderStates.delete(key);
    else this.binderStates.set(key, state);
    if (previous === state) return;
    if (previous?.startsWith(`${spec}|`) !== true) {
      // Every Binder of the namespace: a change of `default` may start or end a conflict.
      for (const other of this.binders.list(namespace)) this.binderController.enqueue(namespace, other.metadata.name);
      this.binderController.enqueue(namespace, name);
      this.configQueue.addAfter(namespace, CONFIG_BATCH_MS);
      this.wakeBindingsOf(namespace, name);
      return;
    }
    // Only Ready changed: placement is the same, so only bindings that said otherwise of their
    // Binder's readiness have anything to redo. A binding without conditions has not been
    // reconciled yet and is in the queue already; waking it again made a second reconcile of
    // each binding applied while its Binder first connected.
    const ready = conditionStatus(binder.status?.conditions, 'Ready');
    this.wakeBindingsOf(namespace, name, (binding) => {
      const said = conditionStatus(binding.status?.conditions, 'BinderReady');
      return said !== undefined && said !== ready;
    });
  }

  /** Enqueues the StreamBindings placed on a Binder, or that could be (those naming none), that `stale` picks. */
  private wakeBindingsOf(namespace: string, binderName: string, stale: (binding: StreamBinding) => boolean = () => true): void {
    for (const binding of this.bindings.list(namespace)) {
      const uses = resolveBinderName(binding, this.binders) === binderName || binding.status?.binder === binderName || !binding.spec.binder;
      if (uses && stale(binding)) this.bindingController.enqueue(namespace, binding.metadata.name);
    }
  }
}
