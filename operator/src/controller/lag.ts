/**
 * Which consumer lag `status.consumerLag` shows. Lag moves with every message, and each
 * status write is an API server write and a watch event to every watcher, so a new reading
 * replaces the shown one only when a reader of `kubectl get -o wide` would care
 * (docs/adr/0035-consumer-lag-in-status-on-resync.md).
 */

/** Changes smaller than this many messages are not written... */
export const LAG_MIN_CHANGE = 10;
/** ...nor those smaller than this fraction of the shown lag. */
export const LAG_MIN_RATIO = 0.1;

/**
 * The lag to show, given the one shown and a new reading. Caught up (0) is always shown, so a
 * drained backlog never looks stuck; otherwise a reading replaces the shown lag once it moved
 * by LAG_MIN_CHANGE messages and by LAG_MIN_RATIO of the shown lag. A binding flickering
 * between 0 and a few messages writes nothing; one growing from 1 000 to 1 050 neither.
 */
export function shownLag(shown: number | undefined, reading: number): number {
  if (shown === undefined || reading === 0) return reading;
  const change = Math.abs(reading - shown);
  return change >= LAG_MIN_CHANGE && change >= shown * LAG_MIN_RATIO ? reading : shown;
}
