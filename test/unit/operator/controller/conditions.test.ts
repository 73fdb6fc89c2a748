import { describe, expect, it } from 'vitest';
import type { Condition } from '../../../../operator/src/api/types.ts';
import { applyConditions, type ConditionUpdates } from '../../../../operator/src/controller/conditions.ts';

const t0 = '2026-01-01T00:00:00Z';
const later = new Date('2026-01-01T00:05:00.123Z');
const ready = (status: 'True' | 'False', reason: string): Condition => ({ type: 'Ready', status, reason, message: 'm', lastTransitionTime: t0, observedGeneration: 1 });

describe('applyConditions', () => {
  it.each<[string, Condition[], ConditionUpdates, { time: string | undefined; transitions: string[] }]>([
    ['a new condition starts now', [], { Ready: { status: 'True', reason: 'Provisioned', message: 'ok' } }, { time: '2026-01-01T00:05:00Z', transitions: ['Ready=True Provisioned'] }],
    ['an unchanged condition keeps its time', [ready('True', 'Provisioned')], { Ready: { status: 'True', reason: 'Provisioned', message: 'other words' } }, { time: t0, transitions: [] }],
    ['a flip moves the time', [ready('True', 'Provisioned')], { Ready: { status: 'False', reason: 'BinderNotReady', message: 'down' } }, { time: '2026-01-01T00:05:00Z', transitions: ['Ready=False BinderNotReady'] }],
    ['a new reason, same status: an event, same time', [ready('False', 'Unreachable')], { Ready: { status: 'False', reason: 'AuthenticationFailed', message: 'no' } }, { time: t0, transitions: ['Ready=False AuthenticationFailed'] }],
    ['null removes it', [ready('True', 'Provisioned')], { Ready: null }, { time: undefined, transitions: [] }],
  ])('%s', (_, existing, updates, expected) => {
    const { conditions, transitions } = applyConditions(existing, updates, later, 2);
    expect(conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(expected.time);
    expect(transitions.map((t) => `${t.type}=${t.status} ${t.reason}`)).toEqual(expected.transitions);
  });

  it('keeps conditions it was not told about, sorted by type', () => {
    const other: Condition = { type: 'BinderReady', status: 'True', reason: 'Connected', message: 'm', lastTransitionTime: t0 };
    const { conditions } = applyConditions([ready('True', 'Provisioned'), other], { Ready: { status: 'True', reason: 'Provisioned', message: 'm' } }, later, 3);
    expect(conditions.map((c) => c.type)).toEqual(['BinderReady', 'Ready']);
    expect(conditions[1]!.observedGeneration).toBe(3);
  });
});
