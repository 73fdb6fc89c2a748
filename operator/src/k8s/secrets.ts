/**
 * The Secrets that Binders name, read one at a time when a Binder needs its credentials: the
 * operator neither lists nor watches Secrets, so it holds no other, and its RBAC lets it only
 * `get` them (docs/adr/0020). A read is reused for a few seconds, so that a thousand
 * StreamBindings of one Binder reconciling together cost one request, not a thousand.
 */
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../../../time/clock.ts';
import { isNotFound } from './client.ts';

export interface SecretSource {
  /** The Secret, or undefined when it does not exist; `fresh` skips the short reuse. */
  get(name: string, namespace: string, options?: { fresh?: boolean }): Promise<V1Secret | undefined>;
}

export class SecretReader implements SecretSource {
  private readonly reads = new Map<string, { at: number; secret: Promise<V1Secret | undefined> }>();

  constructor(
    private readonly core: Pick<CoreV1Api, 'readNamespacedSecret'>,
    private readonly reuseMs = 5_000,
    private readonly clock: Pick<Clock, 'now'> = systemClock,
  ) {}

  get(name: string, namespace: string, options: { fresh?: boolean } = {}): Promise<V1Secret | undefined> {
    const key = `${namespace}/${name}`;
    const now = this.clock.now();
    const earlier = this.reads.get(key);
    if (earlier && !options.fresh && now - earlier.at < this.reuseMs) return earlier.secret;
    const secret = this.core.readNamespacedSecret({ name, namespace }).then(
      (found) => found,
      (error: unknown) => {
        if (isNotFound(error)) return undefined;
        // A failed read is not reused: the next reconcile asks again.
        if (this.reads.get(key)?.secret === secret) this.reads.delete(key);
        throw error;
      },
    );
    this.reads.set(key, { at: now, secret });
    // Values are kept only as long as they are reused.
    for (const [other, read] of this.reads) if (now - read.at >= this.reuseMs) this.reads.delete(other);
    return secret;
  }
}
