/**
 * One system call for the frames amqplib writes together. Its muxer writes each publish's
 * frames with a `write` of their own once per event-loop turn (a setImmediate), so 64 sends
 * answered in one turn were 64 `write` calls to the kernel; on the send path's profile they
 * were the largest frame after the HTTP answers themselves. Corking the socket from the first
 * write of a synchronous run until the next tick turns the run into one `writev` (ADR 0048).
 * Order, back-pressure (`write` still answers false past the high-water mark, and the muxer
 * waits for 'drain') and each write's callback stay Node's.
 */
import type { ChannelModel } from 'amqplib';
import type { Writable } from 'node:stream';

/** Makes every write to `socket` within one synchronous run leave in one `writev`. */
export function coalesceWrites(socket: Writable): void {
  const write = socket.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function coalescedWrite(this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return Reflect.apply(write, this, args) as boolean;
  } as Writable['write'];
}

/**
 * The socket under an amqplib connection. amqplib does not declare it in its types; a
 * connection without one (another amqplib layout) is left as it is, writing frame by frame.
 */
export function amqpSocket(connection: ChannelModel): Writable | undefined {
  const stream = (connection.connection as { stream?: unknown }).stream;
  return isWritable(stream) ? stream : undefined;
}

function isWritable(value: unknown): value is Writable {
  return typeof value === 'object' && value !== null &&
    typeof (value as Writable).write === 'function' && typeof (value as Writable).cork === 'function' && typeof (value as Writable).uncork === 'function';
}
