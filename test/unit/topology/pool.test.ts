import { describe, expect, it } from 'vitest';
import { BrokerError, type BrokerSession, type BrokerSettings } from '../../../topology/session.ts';
import { BrokerPool } from '../../../topology/pool.ts';

const settings = (host: string): BrokerSettings => ({ type: 'rabbit', host, port: 5672, vhost: '/', tls: false, username: 'u', password: 'p' });

/** A session that only records its lifecycle: the pool's logic is what is under test. */
function fakeSession(): BrokerSession & { goDown(): void } {
  const listeners: Array<() => void> = [];
  const session = {
    type: 'rabbit' as const,
    version: 'RabbitMQ test',
    closed: false,
    onDown: (listener: () => void) => listeners.push(listener),
    declare: async () => {},
    check: async () => ({ missing: [] }),
    usage: async () => ({ messages: 0, consumers: 0 }),
    delete: async () => {},
    close: async () => {
      session.closed = true;
    },
    goDown: () => {
      session.closed = true;
      listeners.forEach((l) => l());
    },
  };
  return session;
}

describe('BrokerPool', () => {
  it('shares one connect between concurrent callers', async () => {
    let connects = 0;
    const pool = new BrokerPool({ connect: async () => { connects += 1; return fakeSession(); } });
    const [a, b] = await Promise.all([pool.session('ns/r', settings('h')), pool.session('ns/r', settings('h'))]);
    expect(a).toBe(b);
    expect(connects).toBe(1);
  });

  it('answers a failed connect from memory for a while, then tries again', async () => {
    let now = 0;
    let connects = 0;
    const pool = new BrokerPool({
      clock: { now: () => now },
      failureMemoryMs: 1000,
      connect: async () => {
        connects += 1;
        throw new BrokerError('Unreachable', 'down');
      },
    });
    await expect(pool.session('ns/r', settings('h'))).rejects.toThrow('down');
    now = 999;
    await expect(pool.session('ns/r', settings('h'))).rejects.toThrow('down');
    expect(connects).toBe(1);
    now = 1000;
    await expect(pool.session('ns/r', settings('h'))).rejects.toThrow('down');
    expect(connects).toBe(2);
  });

  it('replaces the session when the settings change, and closes the old one', async () => {
    const pool = new BrokerPool({ connect: async () => fakeSession() });
    const first = await pool.session('ns/r', settings('h1'));
    const second = await pool.session('ns/r', settings('h2'));
    expect(second).not.toBe(first);
    await new Promise((r) => setTimeout(r, 0));
    expect(first.closed).toBe(true);
  });

  it('tells who uses a session that went down, and connects afresh next time', async () => {
    const down: string[] = [];
    const sessions: Array<ReturnType<typeof fakeSession>> = [];
    const pool = new BrokerPool({ connect: async () => { const s = fakeSession(); sessions.push(s); return s; }, onDown: (key) => down.push(key) });
    await pool.session('ns/r', settings('h'));
    sessions[0]!.goDown();
    expect(down).toEqual(['ns/r']);
    expect(await pool.session('ns/r', settings('h'))).toBe(sessions[1]);
  });
});
