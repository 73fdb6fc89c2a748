/**
 * What a hostile or broken HTTP client gets back, on both ports: every answer, including the
 * HTTP parser's and the router's, is the documented JSON error with a BINDERY_ERR_* code;
 * sends take any content type; limits the brokers impose are refused before anything is
 * published; slow clients are cut off at the documented timeouts.
 */
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { HTTP_TIMEOUTS, REFUSED_BODY_LINGER_MS } from '../../../runtime/src/app.ts';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { rawRequest, type RawResponse } from '../../support/raw-http.ts';
import { SseReader, post, send, sidecarFrom, unique, waitFor } from '../runtime/support.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function memorySidecar(options: Parameters<typeof sidecarFrom>[1] = {}): Promise<RunningSidecar> {
  const destination = unique('contract');
  const running = await sidecarFrom(
    `binders: { mem: { type: memory } }
bindings:
  out: { direction: output, destination: ${destination} }
  in: { direction: input, destination: ${destination}, group: g }`,
    options,
  );
  cleanups.push(() => running.close());
  return running;
}

function expectErrorBody(response: RawResponse, status: number, code: string): void {
  expect(response.status, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['code', 'error', 'message', 'statusCode']);
  expect(body).toMatchObject({ statusCode: status, code, error: expect.any(String), message: expect.any(String) });
}

const requestLine = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

describe('answers of the HTTP parser and the router', () => {
  it.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['Content-Length and Transfer-Encoding together', 'POST /v1/send/out HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['headers over the limit', requestLine('/healthz', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'BINDERY_ERR_HEADERS_TOO_LARGE'],
    ['a URL that cannot be decoded', requestLine('/v1/listen/%E0%A4%A'), 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['a path segment over the limit', requestLine(`/v1/listen/${'a'.repeat(2_000)}`), 414, 'BINDERY_ERR_URI_TOO_LONG'],
    ['an expectation the server cannot meet', requestLine('/v1/bindings', 'Expect: the-unexpected\r\n'), 417, 'BINDERY_ERR_EXPECTATION_FAILED'],
    ['an unknown route', requestLine('/v2/things'), 404, 'BINDERY_ERR_NOT_FOUND'],
  ])('API port: %s', async (_name, bytes, status, code) => {
    const running = await memorySidecar();
    expectErrorBody(await rawRequest(running.apiUrl, bytes), status, code);
    expect((await fetch(`${running.opsUrl}/healthz`)).status).toBe(200);
  });

  it.each([
    ['a request line that is not HTTP', '\u0000\u0001 not http at all\r\n\r\n', 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['headers over the limit', requestLine('/healthz', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'BINDERY_ERR_HEADERS_TOO_LARGE'],
    ['a URL that cannot be decoded', requestLine('/healthz/%E0%A4%A'), 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['an unknown route', requestLine('/v1/send/out'), 404, 'BINDERY_ERR_NOT_FOUND'],
  ])('ops port: %s', async (_name, bytes, status, code) => {
    const running = await memorySidecar();
    expectErrorBody(await rawRequest(running.opsUrl, bytes), status, code);
  });

  it('an ack or nack names any message id a send may carry (255 bytes), without 414', async () => {
    const running = await memorySidecar();
    const id = 'i'.repeat(255);
    const ack = await post(`${running.apiUrl}/v1/ack/in/${id}`);
    expect([ack.status, ack.body.code]).toEqual([404, 'BINDERY_ERR_UNKNOWN_DELIVERY']);
    const nack = await post(`${running.apiUrl}/v1/nack/in/${encodeURIComponent('é'.repeat(127))}`);
    expect([nack.status, nack.body.code]).toEqual([404, 'BINDERY_ERR_UNKNOWN_DELIVERY']);
  });
});

describe('content types of a send', () => {
  it.each([
    ['text/', 'text/', 'x y', 'x y'],
    ['a list of media types', 'application/json, text/plain', '{"a":1}', Buffer.from('{"a":1}').toString('base64')],
    ['a bare word', 'foo', 'raw', Buffer.from('raw').toString('base64')],
    ['separators only', ';;', 'raw', Buffer.from('raw').toString('base64')],
    ['an unterminated quoted parameter', 'text/x; a="b', 'quoted', 'quoted'],
    ['JSON with parameters, in capitals', 'Application/JSON; charset=UTF-8', '{"a":1}', { a: 1 }],
    ['a structured +json type', 'application/vnd.orders.v1+json', '[1,2]', [1, 2]],
  ])('%s (%s) is taken as given and reaches the listener unchanged', async (_name, contentType, body, payload) => {
    const running = await memorySidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    const response = await send(running, 'out', body, { 'content-type': contentType });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    await waitFor('the message at the listener', () => listener.events.length === 1);
    expect(listener.events[0]!.data).toMatchObject({ contentType, payload });
  });

  it('an empty Content-Type is the binding\'s own', async () => {
    const running = await memorySidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    expect((await send(running, 'out', '{"a":1}', { 'content-type': '' })).status).toBe(202);
    await waitFor('the message at the listener', () => listener.events.length === 1);
    expect(listener.events[0]!.data).toMatchObject({ contentType: 'application/json', payload: { a: 1 } });
  });
});

describe('limits the brokers impose, refused before publishing (the same on every binder)', () => {
  it.each([
    ['an x-msg-id of 256 characters', { 'x-msg-id': 'i'.repeat(256) }],
    ['an x-msg-id of 128 characters that are 256 bytes in UTF-8', { 'x-msg-id': 'é'.repeat(128) }],
    ['a content type of 256 bytes', { 'content-type': `application/${'x'.repeat(244)}` }],
    ['an x-msg-* header name of 256 bytes', { [`x-msg-${'n'.repeat(256)}`]: 'v' }],
  ])('%s: 400 BINDERY_ERR_INVALID_HEADER', async (_name, headers) => {
    const running = await memorySidecar();
    const response = await send(running, 'out', '{}', { 'content-type': 'application/json', ...headers });
    expect([response.status, response.body.code]).toEqual([400, 'BINDERY_ERR_INVALID_HEADER']);
  });

  it('the largest values that fit are taken', async () => {
    const running = await memorySidecar();
    const response = await send(running, 'out', '{}', {
      'content-type': `application/${'x'.repeat(243)}`,
      'x-msg-id': 'i'.repeat(255),
      [`x-msg-${'n'.repeat(255)}`]: 'v',
    });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
  });
});

describe('bodies over the limit', () => {
  // The body limit is the largest binding's (1 MiB here): each of these is refused while the
  // client still writes it, declared (Content-Length) or not (chunked).
  it.each([
    ['declared', (body: Buffer): Buffer | Readable => body],
    ['chunked', (body: Buffer): Buffer | Readable => Readable.from((function* () { for (let at = 0; at < body.length; at += 64 * 1024) yield body.subarray(at, at + 64 * 1024); })())],
  ])('a %s body: the client reads the 413, every time', async (_name, shape) => {
    const running = await memorySidecar();
    const pool = new Pool(running.apiUrl, { connections: 8 });
    cleanups.push(() => pool.close());
    const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      try {
        const response = await pool.request({ method: 'POST', path: '/v1/send/out', headers: { 'content-type': 'application/octet-stream' }, body: shape(Buffer.alloc(16 * 1024 * 1024 + i, 0x61)) });
        return `${response.statusCode} ${(JSON.parse(await response.body.text()) as { code: string }).code}`;
      } catch (error) {
        return `failed: ${(error as { code?: string }).code ?? (error as Error).message}`;
      }
    }));
    expect(answers).toEqual(answers.map(() => '413 BINDERY_ERR_PAYLOAD_TOO_LARGE'));
    expect((await send(running, 'out', '{}')).status).toBe(202);
  });

  /** A raw client that declares `declared` bytes of body and writes `chunk` bytes every `everyMs` until done or cut off. */
  async function oversizedUpload(declared: number, chunk: number, everyMs: number): Promise<{ answer: string; errors: string[]; answeredAt: number; ended: boolean; closedAt: number }> {
    const running = await memorySidecar();
    const { hostname, port } = new URL(running.apiUrl);
    // Half-open, as a client busy writing that has not yet read the answer: it writes on after the server's FIN.
    const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
    const errors: string[] = [];
    socket.on('error', (error: Error & { code?: string }) => errors.push(error.code ?? error.message));
    let answer = '';
    let answeredAt = 0;
    let ended = false;
    socket.on('data', (data: Buffer) => {
      answer += data.toString();
      answeredAt ||= Date.now();
    });
    socket.on('end', () => (ended = true));
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    socket.write(`POST /v1/send/out HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`);
    let written = 0;
    const writer = setInterval(() => {
      if (!socket.writable) return clearInterval(writer);
      if (written >= declared) {
        clearInterval(writer);
        return socket.end();
      }
      const size = Math.min(chunk, declared - written);
      written += size;
      socket.write(Buffer.alloc(size, 0x61));
    }, everyMs);
    cleanups.push(async () => {
      clearInterval(writer);
      socket.destroy();
    });
    const closedAt = await closed;
    return { answer, errors, answeredAt, ended, closedAt };
  }

  it('a client that goes on writing its body after the 413 writes it all, reads the answer and sees the connection end', async () => {
    // 4 MiB in 64 KiB steps over ~0.6 s: the answer comes at the start, the body keeps coming.
    const upload = await oversizedUpload(4 * 1024 * 1024, 64 * 1024, 10);
    expect(upload.errors).toEqual([]);
    expect(upload.answer).toMatch(/^HTTP\/1.1 413 [^]*[Cc]onnection: close[^]*BINDERY_ERR_PAYLOAD_TOO_LARGE/);
    expect(upload.ended).toBe(true);
  });

  it(`a client that keeps writing after the 413 is cut off ${REFUSED_BODY_LINGER_MS} ms after it`, async () => {
    // 50 MiB at 50 KiB/s would take 1 000 s.
    const upload = await oversizedUpload(50 * 1024 * 1024, 1024, 20);
    expect(upload.answer).toMatch(/^HTTP\/1.1 413 [^]*BINDERY_ERR_PAYLOAD_TOO_LARGE/);
    expect(upload.closedAt - upload.answeredAt).toBeGreaterThanOrEqual(REFUSED_BODY_LINGER_MS - 100);
    expect(upload.closedAt - upload.answeredAt).toBeLessThan(REFUSED_BODY_LINGER_MS + 1_000);
  });
});

describe('binding states', () => {
  it.each(['paused', 'resumed'])('%s on a stopped input answers 400 BINDERY_ERR_INVALID_STATE', async (state) => {
    const running = await memorySidecar();
    expect((await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'stopped' })).status).toBe(200);
    const refused = await post(`${running.apiUrl}/v1/bindings/in/state`, { state });
    expect([refused.status, refused.body.code]).toEqual([400, 'BINDERY_ERR_INVALID_STATE']);
    expect(running.sidecar.bindings().find((b) => b.name === 'in')!.state).toBe('stopped');
  });
});

describe('slow clients', () => {
  it(`the ops port cuts headers that do not arrive within ${HTTP_TIMEOUTS.opsHeadersTimeoutMs} ms, even headers that trickle`, async () => {
    const running = await memorySidecar();
    const trickle = Array.from({ length: 100 }, (_, i) => ({ afterMs: 100 * (i + 1), bytes: 'a' }));
    const [stalled, trickling] = await Promise.all([
      rawRequest(running.opsUrl, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 20_000 }),
      rawRequest(running.opsUrl, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', { timeoutMs: 20_000, trickle }),
    ]);
    for (const response of [stalled, trickling]) {
      expectErrorBody(response, 408, 'BINDERY_ERR_REQUEST_TIMEOUT');
      expect(response.elapsedMs).toBeLessThan(HTTP_TIMEOUTS.opsHeadersTimeoutMs + 2_000);
    }
  });

  it('the API port cuts a body that does not complete within its request timeout, even one that trickles', async () => {
    const running = await memorySidecar({ timeouts: { apiHeadersTimeoutMs: 1_000, apiRequestTimeoutMs: 2_000 } });
    const head = 'POST /v1/send/out HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const trickle = Array.from({ length: 40 }, (_, i) => ({ afterMs: 100 * (i + 1), bytes: ' ' }));
    const [stalled, trickling] = await Promise.all([
      rawRequest(running.apiUrl, `${head}{"a":`, { timeoutMs: 10_000 }),
      rawRequest(running.apiUrl, `${head}{"a":`, { timeoutMs: 10_000, trickle }),
    ]);
    for (const response of [stalled, trickling]) {
      expectErrorBody(response, 408, 'BINDERY_ERR_REQUEST_TIMEOUT');
      expect(response.elapsedMs).toBeLessThan(4_500);
    }
    expect((await send(running, 'out', '{}')).status).toBe(202);
  });
});
