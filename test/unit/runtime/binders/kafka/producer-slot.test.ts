import type { Producer as KafkaJsProducer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ProducerSlot } from '../../../../../runtime/src/binders/kafka/producer-slot.ts';

/** Stands in for a kafkajs producer: only its identity and disconnect matter to the slot. */
function fakeProducers() {
  const made: { id: number; disconnected: boolean }[] = [];
  const create = async (): Promise<KafkaJsProducer> => {
    const producer = { id: made.length, disconnected: false };
    made.push(producer);
    return { ...producer, disconnect: async () => void (producer.disconnected = true) } as unknown as KafkaJsProducer;
  };
  return { made, create };
}
const id = (p: KafkaJsProducer) => (p as unknown as { id: number }).id;

describe('ProducerSlot', () => {
  it('sends through one producer while its sends succeed', async () => {
    const { made, create } = fakeProducers();
    const slot = new ProducerSlot(create);
    expect(await slot.run(async (p) => id(p))).toBe(0);
    expect(await slot.run(async (p) => id(p))).toBe(0);
    expect(made).toHaveLength(1);
  });

  it('after a failed send, sends go through a new producer and the old one is disconnected', async () => {
    const { made, create } = fakeProducers();
    const slot = new ProducerSlot(create);
    await expect(slot.run(async () => { throw new Error('Request timed out'); })).rejects.toThrow('Request timed out');
    expect(await slot.run(async (p) => id(p))).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(made.map((p) => p.disconnected)).toEqual([true, false]);
  });

  it('a send given up on is disconnected only once it settles', async () => {
    const { made, create } = fakeProducers();
    const slot = new ProducerSlot(create);
    const producer = slot.acquire();
    let finish!: () => void;
    const send = new Promise<void>((resolve) => (finish = resolve));
    slot.retire(producer, send);
    expect(id(await slot.acquire())).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(made[0]!.disconnected).toBe(false);
    finish();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(made[0]!.disconnected).toBe(true);
  });

  it('a failed connection is tried again on the next send; a closed slot makes no producer', async () => {
    let attempts = 0;
    const slot = new ProducerSlot(async () => {
      attempts++;
      if (attempts === 1) throw new Error('ECONNREFUSED');
      return { disconnect: async () => {} } as unknown as KafkaJsProducer;
    });
    await expect(slot.acquire()).rejects.toThrow('ECONNREFUSED');
    await expect(slot.acquire()).resolves.toBeDefined();
    await slot.close();
    await expect(slot.acquire()).rejects.toThrow(/closed/);
    expect(attempts).toBe(2);
  });
});
