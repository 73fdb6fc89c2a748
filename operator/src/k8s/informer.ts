/**
 * A supervised informer: client-node's list-watch cache, restarted with back-off whenever it
 * reports an error (client-node's informer stops on errors; controller-runtime's keeps going,
 * and so must ours, or the operator would silently stop seeing changes).
 */
import { makeInformer, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../../time/clock.ts';
import { ExponentialBackoff } from './queue.ts';

/** Any object with metadata; our own resource types keep timestamps as the API's strings. */
type Watched = { metadata?: object };

export interface SupervisedInformerOptions<T extends Watched> {
  name: string;
  kubeConfig: KubeConfig;
  /** Watch path, e.g. /apis/bindery.io/v1alpha1/namespaces/ns/streambindings. */
  path: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>> | Promise<KubernetesListObject<T & KubernetesObject>>;
  logger: Logger;
  backoff?: ExponentialBackoff;
  clock?: Clock;
}

export class SupervisedInformer<T extends Watched> {
  private readonly informer;
  private readonly backoff: ExponentialBackoff;
  private readonly clock: Clock;
  private restartTimer: unknown;
  private stopped = false;
  private synced = false;
  private listed = false;
  private readonly syncWaiters: Array<() => void> = [];
  /** Restarts so far, for tests and metrics. */
  restarts = 0;

  constructor(private readonly options: SupervisedInformerOptions<T>) {
    this.backoff = options.backoff ?? new ExponentialBackoff(200, 30_000);
    this.clock = options.clock ?? systemClock;
    this.informer = makeInformer<KubernetesObject>(options.kubeConfig, options.path, async () => {
      const list = (await options.list()) as KubernetesListObject<KubernetesObject>;
      this.listed = true;
      return list;
    });
    this.informer.on('error', (error: unknown) => this.restartLater(error));
    this.informer.on('connect', () => this.backoff.forget(options.name));
  }

  /** Calls `handler` on every add, update and delete. */
  onChange(handler: (object: T, event: 'add' | 'update' | 'delete') => void): void {
    this.informer.on('add', (o) => handler(o as T, 'add'));
    this.informer.on('update', (o) => handler(o as T, 'update'));
    this.informer.on('delete', (o) => handler(o as T, 'delete'));
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start().catch((error: unknown) => this.restartLater(error));
    // start() resolves once the first list is in the cache (or the attempt failed).
    if (!this.synced && this.listed) {
      this.synced = true;
      this.syncWaiters.splice(0).forEach((w) => w());
    }
  }

  /** Resolves once the cache holds a complete list. */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  get(name: string, namespace: string): T | undefined {
    return this.informer.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace) as readonly T[];
  }

  private restartLater(error: unknown): void {
    if (this.stopped) return;
    const delay = this.backoff.when(this.options.name);
    this.options.logger.warn({ informer: this.options.name, delayMs: delay, err: describe(error) }, 'informer stopped; restarting');
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.restarts += 1;
      void this.start();
    }, delay);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
