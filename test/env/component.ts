/** What every part of the test environment (RabbitMQ, Kafka, Kubernetes) offers to the CLI and to vitest. */
export interface Component {
  /** Short name used on the command line and for logs: `rabbit`, `kafka`, `kubernetes`. */
  name: string;
  /** Set when an environment variable points at a component run elsewhere; nothing is started then. */
  external(): string | undefined;
  /** Installs or builds what the component needs; prints progress for long steps. */
  ensureInstalled(progress: Progress): Promise<void>;
  /** Client tools that tests use even when the server comes from outside (kubectl, helm). */
  ensureClients?(progress: Progress): Promise<void>;
  /** True when the component answers on its address with the expected protocol. */
  isUp(): Promise<boolean>;
  start(progress: Progress): Promise<void>;
  stop(): Promise<void>;
  /** Brokers: stops the server with SIGKILL, as a crash would (fault tests). */
  kill?(): Promise<void>;
  status(): Promise<ComponentStatus>;
}

export interface ComponentStatus {
  up: boolean;
  version: string;
  /** Where clients connect; never carries credentials. */
  address: string;
}

export type Progress = (line: string) => void;

/** A component that did not come up: says which, why, and where its log is. */
export class ComponentStartError extends Error {
  constructor(
    readonly component: string,
    reason: string,
    readonly logPath: string,
    logTail: string,
  ) {
    super(`${component} failed to start: ${reason}\n` +
      `--- last lines of ${logPath} ---\n${logTail}\n--- end of ${logPath} ---`);
    this.name = 'ComponentStartError';
  }
}
