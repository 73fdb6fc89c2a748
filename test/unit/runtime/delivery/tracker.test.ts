import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../../runtime/src/binders/binder.ts';
import { DeliveryTracker } from '../../../../runtime/src/delivery/tracker.ts';
import { FakeClock } from '../../../support/fake-clock.ts';

function delivery(): Delivery {
  return { id: 'x', payload: Buffer.alloc(0), contentType: 'text/plain', headers: {}, attempt: 1, ack: async () => undefined, requeue: async () => undefined, deadLetter: async () => undefined };
}

describe('DeliveryTracker', () => {
  it.each(['ack', 'requeue', 'deadLetter'] as const)('counts a delivery unsettled until %s, once', async (how) => {
    const tracker = new DeliveryTracker(new FakeClock());
    const seen: Delivery[] = [];
    const handler = tracker.wrap((d) => seen.push(d));
    handler(delivery());
    handler(delivery());
    expect(tracker.unsettledCount).toBe(2);
    await (how === 'deadLetter' ? seen[0]!.deadLetter('r') : seen[0]![how]());
    await seen[0]!.ack();
    expect(tracker.unsettledCount).toBe(1);
  });

  it('is quiet once nothing arrived for the quiet time, and settled once all are settled', async () => {
    const clock = new FakeClock();
    const tracker = new DeliveryTracker(clock);
    const seen: Delivery[] = [];
    const handler = tracker.wrap((d) => seen.push(d));
    let quiet = false;
    void tracker.quiet(1000, 30_000).then(() => (quiet = true));
    await clock.advance(600);
    handler(delivery());
    await clock.advance(900);
    expect(quiet).toBe(false);
    await clock.advance(150);
    expect(quiet).toBe(true);

    let settled = false;
    void tracker.settled(30_000).then(() => (settled = true));
    await clock.advance(100);
    expect(settled).toBe(false);
    await seen[0]!.ack();
    await clock.advance(100);
    expect(settled).toBe(true);
  });

  it('gives up waiting after the maximum', async () => {
    const clock = new FakeClock();
    const tracker = new DeliveryTracker(clock);
    tracker.wrap(() => undefined)(delivery());
    let settled = false;
    void tracker.settled(500).then(() => (settled = true));
    await clock.advance(480);
    expect(settled).toBe(false);
    await clock.advance(40);
    expect(settled).toBe(true);
  });
});
