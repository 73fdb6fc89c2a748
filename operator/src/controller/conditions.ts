/**
 * Conditions as in metav1.Condition: `lastTransitionTime` moves only when the status flips,
 * so "Ready since" stays true while the condition holds, whatever the reconcile count.
 */
import type { Condition } from '../api/types.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionUpdate {
  status: ConditionStatus;
  /** CamelCase, e.g. Provisioned, Unreachable. */
  reason: string;
  message: string;
}

/** Updates by condition type; `null` removes the condition. */
export type ConditionUpdates = Record<string, ConditionUpdate | null>;

export interface Transition extends ConditionUpdate {
  type: string;
}

/**
 * The conditions after `updates`, and the transitions (a new condition, or a changed status
 * or reason) that deserve an Event. Conditions not named in `updates` are kept as they are.
 */
export function applyConditions(
  existing: readonly Condition[] | undefined,
  updates: ConditionUpdates,
  now: Date,
  generation: number | undefined,
): { conditions: Condition[]; transitions: Transition[] } {
  const conditions: Condition[] = [];
  const transitions: Transition[] = [];
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  for (const condition of existing ?? []) {
    if (!(condition.type in updates)) conditions.push(condition);
  }
  for (const [type, update] of Object.entries(updates)) {
    if (update === null) continue;
    const previous = byType.get(type);
    const flipped = previous?.status !== update.status;
    if (flipped || previous?.reason !== update.reason) transitions.push({ type, ...update });
    conditions.push({
      type,
      status: update.status,
      reason: update.reason,
      message: update.message,
      lastTransitionTime: flipped || !previous ? rfc3339(now) : previous.lastTransitionTime,
      ...(generation !== undefined && { observedGeneration: generation }),
    });
  }
  conditions.sort((a, b) => a.type.localeCompare(b.type));
  return { conditions, transitions };
}

export function conditionStatus(conditions: readonly Condition[] | undefined, type: string): ConditionStatus | undefined {
  return conditions?.find((c) => c.type === type)?.status;
}

/** metav1.Time has second precision; sub-second digits would make equal statuses differ. */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
