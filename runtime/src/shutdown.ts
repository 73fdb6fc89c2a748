/**
 * The hard limit of a shutdown: once armed, the process ends within `ms`, whatever it is
 * doing. The graceful path bounds each of its steps (Sidecar.close); this holds when
 * something it waits for never answers, and a watchdog thread holds even when the event loop
 * itself never comes back (a handler that spins), which no timer on that loop could do.
 */
import { Worker } from 'node:worker_threads';

/** How much later than the limit the watchdog thread kills a process whose event loop is stuck. */
export const WATCHDOG_GRACE_MS = 1_000;

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
setTimeout(() => {
  require('node:fs').writeSync(2, JSON.stringify({ level: 60, time: Date.now(), msg: workerData.msg }) + '\\n');
  process.kill(workerData.pid, 'SIGKILL');
}, workerData.ms);
`;

export interface ShutdownLimit {
  /** The graceful path finished in time: neither the timer nor the watchdog fires. */
  disarm(): void;
}

/**
 * Arms the limit: after `ms`, `onLimit` is told (to log why) and the process exits 1; if the
 * event loop cannot even run that, the watchdog sends SIGKILL `WATCHDOG_GRACE_MS` later.
 */
export function armShutdownLimit(ms: number, onLimit: () => void): ShutdownLimit {
  const timer = setTimeout(() => {
    onLimit();
    process.exit(1);
  }, ms);
  const msg = `the shutdown limit of ${ms} ms passed with the event loop stuck; killing the process`;
  // Plain CommonJS with none of the process's flags (a loader, --input-type), so it runs as written.
  const watchdog = new Worker(WATCHDOG, { eval: true, execArgv: [], workerData: { pid: process.pid, ms: ms + WATCHDOG_GRACE_MS, msg } });
  // The watchdog never keeps the process alive by itself.
  watchdog.unref();
  return {
    disarm() {
      clearTimeout(timer);
      void watchdog.terminate();
    },
  };
}
