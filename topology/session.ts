/**
 * What the operator needs of a broker: a session per Binder that declares and deletes a
 * desired topology (idempotently: "exists" and "not found" are success), plus cheap reads
 * used for drift detection and deletion policies. One implementation per broker, in
 * rabbit/session.ts and kafka/session.ts; nothing else of the operator imports a broker client.
 */
import type { DesiredTopology } from './desired.ts';

/** A Binder's connection settings with its credentials read from the Secret. Never logged. */
export type BrokerSettings =
  | {
      type: 'rabbit';
      host: string;
      port: number;
      vhost: string;
      tls: boolean;
      username?: string;
      password?: string;
      /** The management API's port on `host`, for bulk reads; without it checks read passively. */
      managementPort?: number;
    }
  | {
      type: 'kafka';
      brokers: string[];
      tls: boolean;
      sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
    };

/** Why a broker could not be used, as a condition reason. */
export type BrokerFailure =
  | 'AuthenticationFailed'
  | 'Unreachable'
  | 'NotAllowed'
  | 'ProvisioningFailed'
  /** An object exists with other settings (RabbitMQ PRECONDITION_FAILED): retrying cannot help. */
  | 'IncompatibleTopology'
  | 'SecretNotFound'
  | 'SecretKeyMissing';

/** A broker failure with a message fit for a condition: no credentials, no URLs with passwords. */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly reason: BrokerFailure,
    message: string,
  ) {
    super(message);
  }
}

/** What the broker says about the objects of a topology, for deletion decisions. */
export interface TopologyUsage {
  /** Messages waiting in its queues (RabbitMQ) or not yet consumed by its group (Kafka). */
  messages: number;
  /** Consumers attached to its queues (RabbitMQ) or members of its group (Kafka). */
  consumers: number;
}

/** What `BrokerSession.check` found. */
export interface TopologyCheck {
  /** Names of the objects of the topology that do not exist. */
  missing: string[];
  /**
   * Objects that exist with other settings than the topology's, one sentence each (known from
   * a bulk read only): declaring them again is refused, which reports the conflict.
   */
  differs?: string[];
  /**
   * Messages its consumer group has yet to consume: on RabbitMQ those ready in the group's
   * queues (a queue deleted by hand counts as empty), on Kafka the end offsets less the
   * group's committed offsets, summed over partitions. Absent without a group, when not asked
   * for, or when reading it failed (then `lagError` says why: lag is an observation, and a
   * failed read of it does not fail the check).
   */
  lag?: number;
  lagError?: BrokerError;
}

export interface BrokerSession {
  readonly type: 'rabbit' | 'kafka';
  /** Product and version, e.g. "RabbitMQ 3.10.8". */
  readonly version: string;
  readonly closed: boolean;
  /** Called once when the connection is lost. */
  onDown(listener: () => void): void;
  /** Creates whatever of `desired` is missing; grows Kafka partitions. A write. */
  declare(desired: DesiredTopology): Promise<void>;
  /**
   * One read of `desired` on the broker, as each resync makes: the objects that do not exist
   * and, with `lag`, what its group has yet to consume. A queue is read once for both (its
   * existence and its depth); an object seen to exist in the current check round is not read
   * again for existence (see newCheckRound). Reads only.
   */
  check(desired: DesiredTopology, options: { lag: boolean }): Promise<TopologyCheck>;
  /**
   * Starts a check round (each resync does): objects `check` found before are read again.
   * Within a round, an exchange or topic that many bindings share is read once.
   */
  newCheckRound?(): void;
  usage(desired: DesiredTopology): Promise<TopologyUsage>;
  /** Deletes the objects of `desired`; absent ones count as deleted. */
  delete(desired: DesiredTopology): Promise<void>;
  close(): Promise<void>;
}

/** Where broker calls are counted besides BrokerCalls itself (the operator's Prometheus counter). */
export interface BrokerCallCounter {
  inc(labels: { type: 'rabbit' | 'kafka'; kind: 'write' | 'read' }, n: number): void;
}

/** Counts broker calls, so a test or the bench can prove an unchanged resync writes nothing. */
export class BrokerCalls {
  writes = 0;
  reads = 0;

  constructor(private readonly counter?: BrokerCallCounter) {}

  count(type: 'rabbit' | 'kafka', kind: 'write' | 'read', n = 1): void {
    if (kind === 'write') this.writes += n;
    else this.reads += n;
    this.counter?.inc({ type, kind }, n);
  }
}

/** Where a session says what an operator should know once (pino's signature). */
export interface SessionLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export type SessionFactory = (settings: BrokerSettings, calls: BrokerCalls, logger?: SessionLogger) => Promise<BrokerSession>;
