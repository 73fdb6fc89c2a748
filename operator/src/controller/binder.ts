/**
 * Binder reconcile: connect to the broker with the Secret's credentials; Ready with the
 * broker's version, or Ready=False with the reason. Marks every Binder of a namespace that
 * has several defaults, since no StreamBinding can tell which one it means.
 */
import type { Binder, BinderStatus } from '../api/types.ts';
import type { ResourceClient } from '../k8s/resources.ts';
import type { SecretSource } from '../k8s/secrets.ts';
import { BrokerError } from '../../../topology/session.ts';
import type { BrokerPool } from '../../../topology/pool.ts';
import type { KindReconciler, ReconcileResult } from './controller.ts';
import { brokerSettings, type BinderLister } from './binders.ts';

export const DEFAULT_CONFLICT = 'DefaultConflict';

export interface BinderReconcilerDeps {
  binders: BinderLister;
  secrets: SecretSource;
  client: ResourceClient<Binder>;
  pool: BrokerPool;
  /** How long to wait for a missing Secret before looking again (Secrets are not watched). */
  secretWaitMs?: number;
}

export class BinderReconciler implements KindReconciler<Binder> {
  readonly name = 'binder';
  readonly cache: BinderLister;
  readonly client: ResourceClient<Binder>;

  constructor(private readonly deps: BinderReconcilerDeps) {
    this.cache = deps.binders;
    this.client = deps.client;
  }

  async reconcile(binder: Binder): Promise<ReconcileResult<BinderStatus>> {
    const { namespace, name } = binder.metadata;
    const defaults = this.deps.binders
      .list(namespace)
      .filter((b) => b.spec.default === true && !b.metadata.deletionTimestamp)
      .map((b) => b.metadata.name)
      .sort();
    const conflict =
      binder.spec.default === true && defaults.length > 1
        ? {
            status: 'True' as const,
            reason: 'MultipleDefaults',
            message: `Binders ${defaults.join(', ')} are all marked default; StreamBindings without a binder cannot be placed`,
          }
        : null;
    try {
      const session = await this.deps.pool.session(`${namespace}/${name}`, await brokerSettings(binder, this.deps.secrets, { fresh: true }));
      return {
        status: { brokerVersion: session.version },
        conditions: {
          Ready: { status: 'True', reason: 'Connected', message: `Connected to ${session.version}` },
          [DEFAULT_CONFLICT]: conflict,
        },
        outcome: { kind: 'done' },
      };
    } catch (error) {
      const failure = error instanceof BrokerError ? error : new BrokerError('Unreachable', String(error));
      const secretProblem = failure.reason === 'SecretNotFound' || failure.reason === 'SecretKeyMissing';
      return {
        conditions: {
          Ready: { status: 'False', reason: failure.reason, message: failure.message },
          [DEFAULT_CONFLICT]: conflict,
        },
        outcome: secretProblem
          ? { kind: 'wait', afterMs: this.deps.secretWaitMs ?? 10_000, why: failure.message }
          : { kind: 'error', error: failure },
      };
    }
  }

  forget(namespace: string, name: string): void {
    void this.deps.pool.drop(`${namespace}/${name}`);
  }
}
