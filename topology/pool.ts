/**
 * One broker session per Binder, shared by the Binder and StreamBinding controllers. A
 * session is replaced when the Binder's settings or credentials change, and dropped when its
 * connection is lost; failed connects are remembered briefly, so that a thousand bindings of
 * a broker that is down do not each open a connection.
 */
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../time/clock.ts';
import { connectKafka } from './kafka/session.ts';
import { connectRabbit } from './rabbit/session.ts';
import { BrokerCalls, BrokerError, type BrokerSession, type BrokerSettings, type SessionFactory, type SessionLogger } from './session.ts';

export const connectBroker: SessionFactory = (settings, calls, logger) =>
  settings.type === 'rabbit' ? connectRabbit(settings, calls, logger) : connectKafka(settings, calls);

interface Entry {
  fingerprint: string;
  session?: Promise<BrokerSession>;
  /** The session once connected. */
  connected?: BrokerSession;
  failure?: { error: unknown; at: number };
}

export interface BrokerPoolOptions {
  connect?: SessionFactory;
  calls?: BrokerCalls;
  /** How long a failed connect is answered from memory (ms). */
  failureMemoryMs?: number;
  clock?: Pick<Clock, 'now'>;
  /** Given to each session, for what it says once (a bulk read falling back). */
  logger?: SessionLogger;
  /** Told when the session of a Binder (`namespace/name`) is lost. */
  onDown?: (binderKey: string) => void;
}

export class BrokerPool {
  private readonly entries = new Map<string, Entry>();
  readonly calls: BrokerCalls;
  private readonly connect: SessionFactory;
  private readonly failureMemoryMs: number;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(private readonly options: BrokerPoolOptions = {}) {
    this.calls = options.calls ?? new BrokerCalls();
    this.connect = options.connect ?? connectBroker;
    this.failureMemoryMs = options.failureMemoryMs ?? 1_000;
    this.clock = options.clock ?? systemClock;
  }

  /** The Binder's session, connecting if there is none or its settings changed. */
  async session(binderKey: string, settings: BrokerSettings): Promise<BrokerSession> {
    const fingerprint = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    let entry = this.entries.get(binderKey);
    if (entry && entry.fingerprint !== fingerprint) {
      void this.drop(binderKey);
      entry = undefined;
    }
    if (entry?.failure && this.clock.now() - entry.failure.at < this.failureMemoryMs) throw entry.failure.error;
    if (entry?.session) {
      const session = await entry.session.catch(() => undefined);
      if (session && !session.closed) return session;
    }
    const fresh: Entry = { fingerprint };
    this.entries.set(binderKey, fresh);
    fresh.session = this.connect(settings, this.calls, this.sessionLogger(binderKey)).then(
      (session) => {
        fresh.connected = session;
        session.onDown(() => {
          if (this.entries.get(binderKey) === fresh) this.entries.delete(binderKey);
          this.options.onDown?.(binderKey);
        });
        return session;
      },
      (error: unknown) => {
        fresh.failure = { error, at: this.clock.now() };
        fresh.session = undefined;
        throw error instanceof BrokerError ? error : new BrokerError('Unreachable', String(error));
      },
    );
    return fresh.session;
  }

  /** The pool's logger with the Binder named on each line. */
  private sessionLogger(binderKey: string): SessionLogger | undefined {
    const logger = this.options.logger;
    if (!logger) return undefined;
    return {
      info: (fields, message) => logger.info({ binder: binderKey, ...fields }, message),
      warn: (fields, message) => logger.warn({ binder: binderKey, ...fields }, message),
    };
  }

  /** A new check round on every session (BrokerSession.newCheckRound): the resync reads everything once more. */
  newCheckRound(): void {
    for (const entry of this.entries.values()) entry.connected?.newCheckRound?.();
  }

  async drop(binderKey: string): Promise<void> {
    const entry = this.entries.get(binderKey);
    this.entries.delete(binderKey);
    const session = await entry?.session?.catch(() => undefined);
    await session?.close();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((key) => this.drop(key)));
  }
}
