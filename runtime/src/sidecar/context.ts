/** What the parts of the sidecar's core share: its settings, its binders and the current configuration. */
import type { Logger } from 'pino';
import type { Clock } from '../../../time/clock.ts';
import type { RetryPolicy } from '../../../time/retry.ts';
import type { RuntimeConfig } from '../config/model.ts';
import type { Metrics } from '../metrics.ts';
import type { Tracer } from '../tracing/tracer.ts';
import type { BinderSlots } from './binder-slots.ts';

export interface SidecarContext {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly slots: BinderSlots;
  /** Creating a producer or consumer that the broker refused is tried again with this. */
  readonly retry: RetryPolicy;
  /** How long a send may wait for its binding to become ready (first connect, binder switch). */
  readonly sendWaitMs: number;
  /** A group input moving to another binder drains the old one until it was quiet this long. */
  readonly drainQuietMs: number;
  /** Upper bound of that drain and of waiting for its deliveries to settle. */
  readonly drainMaxMs: number;
  readonly tracer: Tracer;
  config(): RuntimeConfig;
  /** True once shutdown began: nothing attaches any more. */
  isClosed(): boolean;
  /** Aborts when shutdown begins: retries of producers and consumers stop. */
  readonly closing: AbortSignal;
}
