/**
 * The one reconciler shell (model: controller-runtime). Keys `namespace/name` come from a
 * deduplicating work queue; the shell re-reads the object from the informer cache, keeps the
 * finalizer, calls the kind's reconcile or finalize, writes the status through /status,
 * records an Event per condition transition, and turns the outcome into queue actions:
 * error -> retry with back-off, wait -> requeue after, terminal -> no retry.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../../time/clock.ts';
import type { Condition } from '../api/types.ts';
import type { EventRecorder } from '../k8s/events.ts';
import type { WorkQueue } from '../k8s/queue.ts';
import type { Resource, ResourceClient } from '../k8s/resources.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { applyConditions, type ConditionUpdates, type Transition } from './conditions.ts';

export type Outcome =
  | { kind: 'done' }
  | { kind: 'wait'; afterMs: number; why: string }
  | { kind: 'terminal'; why: string }
  | { kind: 'error'; error: unknown };

export const done: Outcome = { kind: 'done' };

/**
 * Reconciles in flight per controller. A reconcile mostly waits on the broker and the API
 * server, so more workers shorten a burst of applies (docs/adr/0033-reconcile-workers.md).
 */
export const DEFAULT_WORKERS = 64;

export interface ReconcileResult<S> {
  /** Status fields other than conditions and observedGeneration; undefined values remove a field. */
  status?: Partial<S>;
  conditions: ConditionUpdates;
  outcome: Outcome;
}

type StatusOf<T> = T extends Resource<infer S> ? S : never;
type WithConditions = { conditions?: Condition[]; observedGeneration?: number };

export interface ResourceCache<T> {
  get(name: string, namespace: string): T | undefined;
}

export interface KindReconciler<T extends Resource> {
  /** Controller name, in logs and metrics. */
  name: string;
  cache: ResourceCache<T>;
  client: ResourceClient<T>;
  /** Without one, objects are deleted without a last reconcile. */
  finalizer?: string;
  /** Whether this object needs the finalizer (default: all do); one that does not is deleted at once. */
  needsFinalizer?(object: T): boolean;
  reconcile(object: T): Promise<ReconcileResult<StatusOf<T>>>;
  /** Releases what the object holds; `done` lets the finalizer go. */
  finalize?(object: T): Promise<ReconcileResult<StatusOf<T>>>;
  /** The object is gone from the cache. */
  forget?(namespace: string, name: string): void;
}

export interface ControllerDeps {
  queue: WorkQueue;
  events: EventRecorder;
  logger: Logger;
  metrics: OperatorMetrics;
  clock?: Pick<Clock, 'now'>;
  /** Parallel workers; a key is never processed by two at once. */
  workers?: number;
}

export class Controller<T extends Resource> {
  private running: Promise<void>[] = [];
  private readonly clock: Pick<Clock, 'now'>;

  constructor(
    readonly kind: KindReconciler<T>,
    readonly deps: ControllerDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
  }

  get queue(): WorkQueue {
    return this.deps.queue;
  }

  enqueue(namespace: string, name: string): void {
    this.deps.queue.add(`${namespace}/${name}`);
  }

  start(): void {
    const workers = this.deps.workers ?? DEFAULT_WORKERS;
    for (let i = 0; i < workers; i += 1) this.running.push(this.work());
  }

  async stop(): Promise<void> {
    this.deps.queue.shutDown();
    await Promise.all(this.running);
    this.running = [];
  }

  private work(): Promise<void> {
    return processQueue(this.kind.name, (key) => this.reconcileKey(key), this.deps);
  }

  /** One level-based pass over the object's current state. */
  async reconcileKey(key: string): Promise<Outcome> {
    const [namespace, name] = splitKey(key);
    const { kind } = this;
    let object = kind.cache.get(name, namespace);
    if (!object) {
      kind.forget?.(namespace, name);
      return done;
    }
    const finalizers = object.metadata.finalizers ?? [];
    if (object.metadata.deletionTimestamp) {
      if (!kind.finalizer || !finalizers.includes(kind.finalizer)) return done;
      const result = kind.finalize ? await kind.finalize(object) : { conditions: {}, outcome: done };
      if (result.outcome.kind === 'done') {
        await kind.client.setFinalizers(object, finalizers.filter((f) => f !== kind.finalizer));
        kind.forget?.(namespace, name);
        return done;
      }
      await this.writeStatus(object, result);
      return result.outcome;
    }
    if (kind.finalizer) {
      const wanted = kind.needsFinalizer?.(object) ?? true;
      const present = finalizers.includes(kind.finalizer);
      if (wanted !== present) {
        const updated = await kind.client.setFinalizers(
          object,
          wanted ? [...finalizers, kind.finalizer] : finalizers.filter((f) => f !== kind.finalizer),
        );
        if (!updated) return done;
        object = updated;
      }
    }
    const result = await kind.reconcile(object);
    await this.writeStatus(object, result);
    return result.outcome;
  }

  private async writeStatus(object: T, result: ReconcileResult<StatusOf<T>>): Promise<void> {
    const generation = object.metadata.generation;
    let transitions: Transition[] = [];
    let changed = false;
    const written = await this.kind.client.writeStatusIfChanged(object, (fresh) => {
      const previous = (fresh.status ?? {}) as WithConditions;
      const applied = applyConditions(previous.conditions, result.conditions, new Date(this.clock.now()), generation);
      transitions = applied.transitions;
      const next = { ...previous, ...result.status, observedGeneration: generation, conditions: applied.conditions };
      const clean = JSON.parse(JSON.stringify(next)) as StatusOf<T>;
      // By value, not by text: the API server answers with its keys sorted, so the same status
      // serialised in another key order is no change (it would be a PUT per binding per resync).
      changed = !isDeepStrictEqual(clean, previous);
      return changed ? clean : undefined;
    });
    if (!written) return;
    for (const transition of transitions) {
      // Ready tells the story; other conditions add an Event only when they go wrong, so a
      // thousand new bindings do not make two thousand Events.
      if (transition.type !== 'Ready' && transition.status !== 'False') continue;
      const type = transition.status === 'False' ? 'Warning' : 'Normal';
      this.deps.events.record(object, type, transition.reason, `${transition.type}=${transition.status}: ${transition.message}`);
    }
  }
}

/**
 * One worker: takes keys until the queue shuts down and turns each outcome into queue
 * actions. Shared by every controller, including those whose key is not an object.
 */
export async function processQueue(
  controller: string,
  handle: (key: string) => Promise<Outcome>,
  deps: Pick<ControllerDeps, 'queue' | 'metrics' | 'logger'>,
): Promise<void> {
  const { queue, metrics, logger } = deps;
  for (;;) {
    metrics.queueDepth.set({ controller }, queue.length);
    const key = await queue.get();
    if (key === undefined) return;
    const stopTimer = metrics.duration.startTimer({ controller });
    let outcome: Outcome;
    try {
      outcome = await handle(key);
    } catch (error) {
      outcome = { kind: 'error', error };
    }
    stopTimer();
    metrics.reconciles.inc({ controller, result: outcome.kind });
    switch (outcome.kind) {
      case 'done':
      case 'terminal':
        queue.forget(key);
        break;
      case 'wait':
        queue.forget(key);
        queue.addAfter(key, outcome.afterMs);
        break;
      case 'error': {
        metrics.errors.inc({ controller });
        const delayMs = queue.addRateLimited(key);
        logger.warn({ controller, key, delayMs, err: describe(outcome.error) }, 'reconcile failed; retrying');
        break;
      }
    }
    queue.done(key);
  }
}

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
