import { connect } from 'node:net';

/**
 * Sends `request` to host:port and resolves with the first bytes answered, or undefined when
 * nothing listens or nothing answers in time. Used to tell "our server is up" from "the port
 * is taken by something else".
 */
export function exchange(host: string, port: number, request: Buffer, timeoutMs = 2_000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    const done = (value: Buffer | undefined): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(received.length > 0 ? received : undefined));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 8) done(received);
    });
    socket.on('error', () => done(undefined));
    socket.on('end', () => done(received.length > 0 ? received : undefined));
  });
}

export function portOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => { socket.destroy(); resolve(false); });
    socket.on('connect', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

/** An AMQP 0-9-1 server answers the protocol header with a Connection.Start method frame. */
export async function isAmqp(host: string, port: number): Promise<boolean> {
  const answer = await exchange(host, port, Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
  return answer !== undefined && answer[0] === 1;
}

/** A Kafka broker answers ApiVersions v0 with a frame echoing our correlation id. */
export async function isKafka(host: string, port: number): Promise<boolean> {
  const clientId = Buffer.from('bindery-env');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
  body.writeInt16BE(18, 0); // ApiVersions
  body.writeInt16BE(0, 2);
  body.writeInt32BE(0x0b1d, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  const answer = await exchange(host, port, Buffer.concat([size, body]));
  return answer !== undefined && answer.length >= 8 && answer.readInt32BE(4) === 0x0b1d;
}
