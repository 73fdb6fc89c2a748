/** Kubernetes Events on the operator's resources (core/v1, what `kubectl describe` shows). */
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../../time/clock.ts';
import type { ObjectMeta } from '../api/types.ts';

export const COMPONENT = 'bindery-operator';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(target: EventTarget, type: EventType, reason: string, message: string): void;
}

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly core: CoreV1Api,
    private readonly logger: Logger,
    private readonly clock: Pick<Clock, 'now'> = systemClock,
  ) {}

  /** Fire and forget: a lost Event must never fail a reconcile. */
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const { name, namespace, uid, resourceVersion } = target.metadata;
    const time = new Date(this.clock.now());
    void this.core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name, namespace, uid, resourceVersion },
          type,
          reason,
          message,
          source: { component: COMPONENT },
          reportingComponent: COMPONENT,
          reportingInstance: process.env.HOSTNAME ?? COMPONENT,
          action: reason,
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
        },
      })
      .catch((error: unknown) =>
        this.logger.debug({ kind: target.kind, name, namespace, reason, err: String(error) }, 'event not recorded'),
      );
  }
}
