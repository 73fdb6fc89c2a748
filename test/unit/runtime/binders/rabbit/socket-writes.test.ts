import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { coalesceWrites } from '../../../../../runtime/src/binders/rabbit/socket-writes.ts';

/** A loopback TCP pair: what the client writes, the server collects. */
async function pair(): Promise<{ client: Socket; received(): Buffer; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  let accepted: Socket | undefined;
  const server: Server = createServer((socket) => {
    accepted = socket;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  return {
    client,
    received: () => Buffer.concat(chunks),
    close: async () => {
      client.destroy();
      accepted?.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const frames = (n: number, from = 0): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from(`frame-${from + i};`));

describe('coalesceWrites', () => {
  it('sends the writes of one synchronous run in one writev, in order, each with its callback', async () => {
    const { client, received, close } = await pair();
    closers.push(close);
    coalesceWrites(client);
    const writev = vi.spyOn(client as unknown as { _writev: () => void }, '_writev');
    const write = vi.spyOn(client as unknown as { _write: () => void }, '_write');
    const written: number[] = [];
    for (const [i, frame] of frames(20).entries()) client.write(frame, () => written.push(i));
    expect(writev).not.toHaveBeenCalled();
    await new Promise((resolve) => process.nextTick(resolve));
    expect([writev.mock.calls.length, write.mock.calls.length]).toEqual([1, 0]);
    await vi.waitFor(() => expect(received().toString()).toBe(Buffer.concat(frames(20)).toString()));
    expect(written).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('lets each run go out on its own turn, without waiting for more', async () => {
    const { client, received, close } = await pair();
    closers.push(close);
    coalesceWrites(client);
    client.write(Buffer.from('first;'));
    await vi.waitFor(() => expect(received().toString()).toBe('first;'));
    client.write(Buffer.from('second;'));
    client.write(Buffer.from('third;'));
    await vi.waitFor(() => expect(received().toString()).toBe('first;second;third;'));
  });

  it('keeps back-pressure: past the high-water mark write answers false, and drain follows the flush', async () => {
    const { client, received, close } = await pair();
    closers.push(close);
    coalesceWrites(client);
    const big = Buffer.alloc(client.writableHighWaterMark, 'x');
    expect(client.write(big)).toBe(false);
    await once(client, 'drain');
    await vi.waitFor(() => expect(received().length).toBe(big.length));
  });
});
