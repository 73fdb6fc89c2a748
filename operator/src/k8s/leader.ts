/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: the
 * leader renews every `retryPeriod`; if it cannot renew within `renewDeadline` it stops
 * leading; a candidate takes a Lease whose holder has not renewed for `leaseDuration`. On a
 * clean shutdown the leader releases the Lease, so the next one takes over at once.
 *
 * Defaults are 12 s / 8 s / 2 s rather than client-go's 15 / 10 / 2, so that a standby takes
 * over within 15 s of the leader's death (docs/adr/0009-operator-lease-timings.md).
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { sleep, systemClock, type Clock } from '../../../time/clock.ts';
import { isConflict, isNotFound } from './client.ts';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  /** Aborts the wait between two rounds when the elector stops. */
  private readonly stopping = new AbortController();
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 12_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 8_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.clock = options.clock ?? systemClock;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, calls `onStartedLeading`, then renews until the Lease is lost
   * (`onStoppedLeading`) or `stop` is called.
   */
  async run(onStartedLeading: () => void, onStoppedLeading: () => void): Promise<void> {
    const { logger, name, identity } = this.options;
    while (!this.stopped && !this.leading) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        logger.info({ lease: name, identity }, 'became leader');
        onStartedLeading();
        break;
      }
      await this.sleep(this.retryPeriodMs);
    }
    while (!this.stopped && this.leading) {
      await this.sleep(this.retryPeriodMs);
      if (this.stopped) break;
      const renewed = await this.tryAcquireOrRenew();
      if (!renewed && this.now().getTime() - this.lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        logger.warn({ lease: name, identity }, 'leadership lost');
        onStoppedLeading();
      }
    }
  }

  /** Stops campaigning; a leader gives the Lease up so that another replica need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime(this.now()) };
      await this.options.coordination.replaceNamespacedLease({ namespace: this.options.namespace, name: this.options.name, body: lease });
      this.options.logger.info({ lease: this.options.name }, 'leader lease released');
    } catch (error) {
      this.options.logger.warn({ err: String(error) }, 'leader lease not released; it will expire');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { coordination, namespace, name, identity } = this.options;
    const now = this.now();
    const stamp = microTime(now);
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    try {
      const lease = await this.read();
      if (!lease) {
        await coordination.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
          },
        });
        this.lastRenew = now.getTime();
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity;
      const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expired = renewedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < now.getTime();
      if (holder && holder !== identity && !expired) return false;
      const takeover = holder !== identity;
      lease.spec = {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: stamp,
        ...(takeover && { acquireTime: stamp, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      };
      await coordination.replaceNamespacedLease({ namespace, name, body: lease });
      this.lastRenew = now.getTime();
      return true;
    } catch (error) {
      // A conflict means another replica wrote first: not ours this round.
      if (!isConflict(error)) this.options.logger.warn({ err: String(error) }, 'lease update failed');
      return false;
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.options.coordination.readNamespacedLease({ namespace: this.options.namespace, name: this.options.name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async sleep(ms: number): Promise<void> {
    await sleep(this.clock, ms, this.stopping.signal);
  }

  private now(): Date {
    return new Date(this.clock.now());
  }
}

/**
 * metav1.MicroTime wants six fractional digits; client-node types it as Date and would send
 * JavaScript's three, which the API server refuses. The string passes through its serializer.
 */
function microTime(date: Date): Date {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}
