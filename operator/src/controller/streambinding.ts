/**
 * StreamBinding reconcile: the desired topology (a pure function of the spec) declared on the
 * binding's Binder. What was declared is remembered per generation, so an unchanged resync
 * only checks that the objects still exist (reads) and re-declares only when one is missing.
 *
 * Releasing topology, on deletion or after a move to another Binder, follows the binding's
 * deletionPolicy, and never removes an object that another StreamBinding on the same broker
 * still needs (docs/adr/0010-topology-release-and-binder-switch.md).
 */
import type { Logger } from 'pino';
import type { Binder, RetiredTopology, StreamBinding, StreamBindingStatus } from '../api/types.ts';
import type { EventRecorder } from '../k8s/events.ts';
import type { ResourceClient } from '../k8s/resources.ts';
import type { SecretSource } from '../k8s/secrets.ts';
import { BrokerError, type TopologyCheck } from '../../../topology/session.ts';
import { isEmptyTopology, objectIds, withoutObjects } from '../../../topology/desired.ts';
import type { BrokerPool } from '../../../topology/pool.ts';
import type { ConditionUpdate, ConditionUpdates } from './conditions.ts';
import type { KindReconciler, Outcome, ReconcileResult } from './controller.ts';
import { brokerIdentity, brokerSettings, resolveBinderName, type BinderLister } from './binders.ts';
import { shownLag } from './lag.ts';
import { bindingTopology, topologyStatus } from './topology.ts';

export const TOPOLOGY_FINALIZER = 'bindery.io/topology';
export const RELEASED = 'TopologyReleased';

export interface StreamBindingLister {
  get(name: string, namespace: string): StreamBinding | undefined;
  list(namespace?: string): readonly StreamBinding[];
}

export interface StreamBindingReconcilerDeps {
  bindings: StreamBindingLister;
  binders: BinderLister;
  secrets: SecretSource;
  client: ResourceClient<StreamBinding>;
  pool: BrokerPool;
  events: EventRecorder;
  logger: Logger;
  /** How often a binding waiting on its Binder, on consumers or on a queue to drain looks again. */
  pollMs?: number;
}

type Release = { released: true } | { released: false; reason: string; message: string };

export class StreamBindingReconciler implements KindReconciler<StreamBinding> {
  readonly name = 'streambinding';
  readonly finalizer = TOPOLOGY_FINALIZER;
  readonly cache: StreamBindingLister;
  readonly client: ResourceClient<StreamBinding>;
  /** namespace/name -> what was declared for it: uid, generation and Binder. */
  private readonly declared = new Map<string, string>();
  private readonly pollMs: number;

  constructor(private readonly deps: StreamBindingReconcilerDeps) {
    this.cache = deps.bindings;
    this.client = deps.client;
    this.pollMs = deps.pollMs ?? 5_000;
  }

  /**
   * Retain has nothing to do on the broker when the binding goes, so such bindings carry no
   * finalizer: they delete at once, and a namespace without a running operator can still go.
   */
  needsFinalizer(binding: StreamBinding): boolean {
    return (binding.spec.deletionPolicy ?? 'Retain') !== 'Retain';
  }

  async reconcile(binding: StreamBinding): Promise<ReconcileResult<StreamBindingStatus>> {
    const { namespace } = binding.metadata;
    const binderName = resolveBinderName(binding, this.deps.binders);
    const binder = binderName ? this.deps.binders.get(binderName, namespace) : undefined;
    if (!binderName || !binder) {
      const reason = binderName ? 'BinderNotFound' : 'NoDefaultBinder';
      const message = binderName
        ? `Binder ${binderName} not found in namespace ${namespace}`
        : `no binder given and namespace ${namespace} has no single default Binder`;
      // Not an error to retry fast: the Binder informer wakes this binding when one appears.
      return notReady(reason, message, { kind: 'wait', afterMs: this.pollMs * 6, why: message });
    }

    // A move to another Binder: the old topology is released once no sidecar uses it.
    const previous = (binding.status?.previousBinders ?? []).filter((p) => p.binder !== binderName);
    const current = binding.status?.binder;
    if (current && current !== binderName && !previous.some((p) => p.binder === current)) {
      previous.push({ binder: current, generation: binding.metadata.generation ?? 0 });
    }

    const desired = bindingTopology(binding.spec, binder.spec.type);
    let consumerLag: number | undefined;
    const wantsLag = binding.spec.direction === 'input' && binding.spec.group !== undefined;
    try {
      const session = await this.deps.pool.session(binderKey(binder), await brokerSettings(binder, this.deps.secrets));
      const uid = `${namespace}/${binding.metadata.name}`;
      const fingerprint = `${binding.metadata.uid}|${binding.metadata.generation}|${binder.metadata.uid}|${binder.metadata.generation}`;
      let check: TopologyCheck | undefined;
      try {
        if (this.declared.get(uid) === fingerprint) {
          // One pass for drift and lag: on RabbitMQ a group's queue is read once for both.
          check = await session.check(desired, { lag: wantsLag });
          // An object with other settings is declared again too: the broker's refusal then
          // reports the conflict (IncompatibleTopology) as a first declaration would.
          const drift = [...check.missing, ...(check.differs ?? [])];
          if (drift.length > 0) {
            await session.declare(desired);
            this.deps.logger.info({ namespace, streamBinding: binding.metadata.name, missing: drift }, 'drift repaired');
            this.deps.events.record(binding, 'Normal', 'DriftRepaired', `Declared again: ${drift.join(', ')}`);
          }
        } else {
          this.declared.delete(uid);
          await session.declare(desired);
          this.declared.set(uid, fingerprint);
        }
      } catch (error) {
        this.declared.delete(uid);
        throw error;
      }
      if (wantsLag) {
        // After a declare, only the lag is left to read (what was declared is known to exist).
        check ??= await session.check(desired, { lag: true }).catch((error: unknown): TopologyCheck => ({ missing: [], lagError: asBrokerFailure(error) }));
        consumerLag = this.consumerLag(binding, check);
      }
    } catch (error) {
      const failure = asBrokerFailure(error);
      const binderProblem = failure.reason !== 'ProvisioningFailed' && failure.reason !== 'IncompatibleTopology';
      return {
        status: { binder: binderName, previousBinders: previous.length > 0 ? previous : undefined },
        conditions: {
          Ready: { status: 'False', reason: binderProblem ? 'BinderNotReady' : failure.reason, message: failure.message },
          BinderReady: binderProblem
            ? { status: 'False', reason: failure.reason, message: `Binder ${binderName}: ${failure.message}` }
            : { status: 'True', reason: 'Connected', message: `Binder ${binderName} is connected` },
        },
        outcome:
          failure.reason === 'SecretNotFound' || failure.reason === 'SecretKeyMissing'
            ? { kind: 'wait', afterMs: this.pollMs * 6, why: failure.message }
            : failure.reason === 'IncompatibleTopology'
              ? // Retrying cannot help until someone changes the spec or the broker object; the
                // periodic resync still looks again.
                { kind: 'terminal', why: failure.message }
              : { kind: 'error', error: failure },
      };
    }

    const waiting: RetiredTopology[] = [];
    let released: ConditionUpdate | null = null;
    for (const retired of previous) {
      const release = await this.release(binding, retired.binder, { waitForConsumers: true });
      if (!release.released) {
        waiting.push(retired);
        released = { status: 'False', reason: release.reason, message: release.message };
      }
    }
    const summary = topologyStatus(desired);
    return {
      status: { binder: binderName, topology: summary, consumerLag, previousBinders: waiting.length > 0 ? waiting : undefined },
      conditions: {
        Ready: { status: 'True', reason: 'Provisioned', message: `Provisioned on Binder ${binderName}: ${describeTopology(summary)}` },
        BinderReady: { status: 'True', reason: 'Connected', message: `Binder ${binderName} is connected` },
        [RELEASED]: released,
      },
      outcome: waiting.length > 0 ? { kind: 'wait', afterMs: this.pollMs, why: released!.message } : { kind: 'done' },
    };
  }

  async finalize(binding: StreamBinding): Promise<ReconcileResult<StreamBindingStatus>> {
    const binders = new Set<string>();
    const current = binding.status?.binder ?? resolveBinderName(binding, this.deps.binders);
    if (current) binders.add(current);
    for (const previous of binding.status?.previousBinders ?? []) binders.add(previous.binder);
    const conditions: ConditionUpdates = {};
    for (const name of binders) {
      let release: Release;
      try {
        release = await this.release(binding, name, { waitForConsumers: false });
      } catch (error) {
        const failure = asBrokerFailure(error);
        return {
          conditions: { Ready: { status: 'False', reason: 'DeletionFailed', message: `Binder ${name}: ${failure.message}` } },
          outcome: { kind: 'error', error: failure },
        };
      }
      if (!release.released) {
        conditions.Ready = { status: 'False', reason: release.reason, message: release.message };
        return { conditions, outcome: { kind: 'wait', afterMs: this.pollMs, why: release.message } };
      }
    }
    return { conditions, outcome: { kind: 'done' } };
  }

  forget(namespace: string, name: string): void {
    this.declared.delete(`${namespace}/${name}`);
  }

  /**
   * The lag `status.consumerLag` shows for an input with a group, read on every reconcile (so
   * once per resync period; other bindings show none, which removes the field). A failed read
   * keeps the lag shown: lag is an observation, and Ready already says when the broker is
   * unreachable.
   */
  private consumerLag(binding: StreamBinding, check: TopologyCheck): number | undefined {
    const shown = binding.status?.consumerLag;
    if (check.lagError !== undefined) {
      this.deps.logger.warn({ namespace: binding.metadata.namespace, streamBinding: binding.metadata.name, err: check.lagError.message }, 'consumer lag not read');
      return shown;
    }
    return check.lag === undefined ? shown : shownLag(shown, check.lag);
  }

  /** Applies the deletionPolicy to the binding's topology on Binder `binderName`. */
  private async release(binding: StreamBinding, binderName: string, options: { waitForConsumers: boolean }): Promise<Release> {
    const policy = binding.spec.deletionPolicy ?? 'Retain';
    const binder = this.deps.binders.get(binderName, binding.metadata.namespace);
    // Without its Binder there is no broker to reach; the objects stay where they are.
    if (!binder) return { released: true };
    const needsConsumerCheck = options.waitForConsumers && binding.spec.direction === 'input';
    if (policy === 'Retain' && !needsConsumerCheck) return { released: true };

    const desired = bindingTopology(binding.spec, binder.spec.type);
    const session = await this.deps.pool.session(binderKey(binder), await brokerSettings(binder, this.deps.secrets));
    if (needsConsumerCheck) {
      const usage = await session.usage(desired);
      if (usage.consumers > 0) {
        return {
          released: false,
          reason: 'WaitingForConsumers',
          message: `${usage.consumers} consumer(s) still read ${describeTopology(topologyStatus(desired))} on Binder ${binderName}`,
        };
      }
    }
    if (policy === 'Retain') return { released: true };

    const deletable = withoutObjects(desired, this.objectsInUse(binding, binder));
    if (isEmptyTopology(deletable)) return { released: true };
    if (policy === 'Delete') {
      const usage = await session.usage(deletable);
      if (usage.messages > 0) {
        return {
          released: false,
          reason: 'QueueNotEmpty',
          message: `${describeTopology(topologyStatus(deletable))} on Binder ${binderName} holds ${usage.messages} message(s); deletionPolicy Delete waits until it is empty (ForceDelete would not)`,
        };
      }
    }
    await session.delete(deletable);
    this.deps.logger.info({ namespace: binding.metadata.namespace, streamBinding: binding.metadata.name, binder: binderName, policy }, 'topology deleted');
    return { released: true };
  }

  /** Objects that other StreamBindings on the same broker need (the sharing rule). */
  private objectsInUse(binding: StreamBinding, binder: Binder): Set<string> {
    const identity = brokerIdentity(binder);
    const inUse = new Set<string>();
    for (const other of this.deps.bindings.list()) {
      const self = other.metadata.uid === binding.metadata.uid;
      if (other.metadata.deletionTimestamp && !self) continue;
      const name = resolveBinderName(other, this.deps.binders);
      const otherBinder = name ? this.deps.binders.get(name, other.metadata.namespace) : undefined;
      if (!otherBinder || brokerIdentity(otherBinder) !== identity) continue;
      // The binding itself counts where it now lives, unless it is being deleted.
      if (self && (other.metadata.deletionTimestamp || otherBinder.metadata.name === binder.metadata.name)) continue;
      for (const id of objectIds(bindingTopology(other.spec, otherBinder.spec.type))) inUse.add(id);
    }
    return inUse;
  }
}

function binderKey(binder: Binder): string {
  return `${binder.metadata.namespace}/${binder.metadata.name}`;
}

function notReady(reason: string, message: string, outcome: Outcome): ReconcileResult<StreamBindingStatus> {
  return {
    conditions: {
      Ready: { status: 'False', reason, message },
      BinderReady: { status: 'False', reason, message },
    },
    outcome,
  };
}

function asBrokerFailure(error: unknown): BrokerError {
  return error instanceof BrokerError ? error : new BrokerError('Unreachable', error instanceof Error ? error.message : String(error));
}

function describeTopology(topology: ReturnType<typeof topologyStatus>): string {
  const parts = [
    topology.exchange && `exchange ${topology.exchange}`,
    topology.queues?.length && `queues ${topology.queues.join(', ')}`,
    topology.deadLetterQueue && `dead-letter queue ${topology.deadLetterQueue}`,
    topology.topic && `topic ${topology.topic} (${topology.partitions} partitions)`,
    topology.deadLetterTopic && `dead-letter topic ${topology.deadLetterTopic}`,
  ].filter(Boolean);
  return parts.join('; ');
}
