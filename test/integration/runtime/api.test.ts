/**
 * The sidecar API over real HTTP on the memory binder: every documented error, send, SSE
 * listening with auto and manual acks, push with retry and dead letters, probes and metrics.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { ConfirmTimeoutError, type Binder } from '../../../runtime/src/binders/binder.ts';
import { memorySidecars } from './memory-sidecars.ts';
import { PushTarget, SseReader, post, send, unique, waitFor } from './support.ts';

const { cleanups, memory, sidecar, pullSidecar } = memorySidecars();

describe('errors, from real HTTP requests', () => {
  it.each([
    ['unknown binding', 'POST', '/v1/send/nope', '{}', 'application/json', 404, 'BINDERY_ERR_UNKNOWN_BINDING'],
    ['send on an input', 'POST', '/v1/send/in', '{}', 'application/json', 409, 'BINDERY_ERR_WRONG_DIRECTION'],
    ['listen on an output', 'GET', '/v1/listen/out', undefined, undefined, 409, 'BINDERY_ERR_WRONG_DIRECTION'],
    ['invalid JSON payload', 'POST', '/v1/send/out', '{"a":', 'application/json', 400, 'BINDERY_ERR_INVALID_PAYLOAD'],
    ['empty body for JSON', 'POST', '/v1/send/out', '', 'application/json', 400, 'BINDERY_ERR_INVALID_PAYLOAD'],
    ['over maxMessageBytes', 'POST', '/v1/send/small', JSON.stringify('x'.repeat(40)), 'application/json', 413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE'],
    ['partitioned without a key', 'POST', '/v1/send/keyed', '{}', 'application/json', 400, 'BINDERY_ERR_MISSING_PARTITION_KEY'],
    ['ack of an unknown delivery', 'POST', '/v1/ack/in/no-such-id', undefined, undefined, 404, 'BINDERY_ERR_UNKNOWN_DELIVERY'],
    ['nack of an unknown delivery', 'POST', '/v1/nack/in/no-such-id', undefined, undefined, 404, 'BINDERY_ERR_UNKNOWN_DELIVERY'],
    ['unknown state', 'POST', '/v1/bindings/in/state', '{"state":"asleep"}', 'application/json', 400, 'BINDERY_ERR_INVALID_REQUEST'],
    ['state body not JSON', 'POST', '/v1/bindings/in/state', '{state', 'application/json', 400, 'BINDERY_ERR_INVALID_REQUEST'],
    ['state as text', 'POST', '/v1/bindings/in/state', 'stopped', 'text/plain', 415, 'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['pause an output', 'POST', '/v1/bindings/out/state', '{"state":"paused"}', 'application/json', 400, 'BINDERY_ERR_INVALID_STATE'],
    ['bad ack mode', 'GET', '/v1/listen/in?ack=sometimes', undefined, undefined, 400, 'BINDERY_ERR_INVALID_REQUEST'],
    ['unknown route', 'GET', '/v2/things', undefined, undefined, 404, 'BINDERY_ERR_NOT_FOUND'],
  ])('%s: %s %s', async (_name, method, path, body, contentType, status, code) => {
    const { running } = await pullSidecar();
    const response = await fetch(`${running.apiUrl}${path}`, {
      method,
      ...(body !== undefined && { body }),
      ...(contentType !== undefined && { headers: { 'content-type': contentType } }),
    });
    const json = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(status);
    expect(json).toEqual({ statusCode: status, code, error: expect.any(String), message: expect.any(String) });
  });

  it('refuses a body over the sidecar\'s limit while reading it, with 413', async () => {
    const { running } = await pullSidecar();
    const response = await send(running, 'out', Buffer.alloc(2 * 1024 * 1024, 0x31));
    expect(response.status).toBe(413);
    expect(response.body.code).toBe('BINDERY_ERR_PAYLOAD_TOO_LARGE');
    expect(response.body.message).toBe('the body is larger than maxMessageBytes (1048576 bytes)');
  });

  it('answers 503 with Retry-After while the binder is down, and /readyz says not ready', async () => {
    const { mem, running } = await pullSidecar();
    expect((await fetch(`${running.opsUrl}/readyz`)).status).toBe(200);
    mem.setReachable(false);
    const response = await send(running, 'out', '{}');
    expect(response.status).toBe(503);
    expect(response.body.code).toBe('BINDERY_ERR_BINDER_UNAVAILABLE');
    expect(response.headers.get('retry-after')).toBe('1');
    const ready = await fetch(`${running.opsUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, binders: { mem: 'down' } });
    expect((await fetch(`${running.opsUrl}/healthz`)).status).toBe(200);
    mem.setReachable(true);
    expect((await send(running, 'out', '{}')).status).toBe(202);
  });

  it('answers 504 when the broker does not confirm in time', async () => {
    const slow: Binder = {
      name: 'slow',
      type: 'rabbit',
      state: 'up',
      connect: async () => undefined,
      onStateChange: () => () => undefined,
      createProducer: async () => ({
        send: async () => {
          throw new ConfirmTimeoutError('no confirm within 5000 ms');
        },
        close: async () => undefined,
      }),
      createConsumer: async () => ({ pause: async () => undefined, resume: async () => undefined, close: async () => undefined }),
      close: async () => undefined,
    };
    const running = await sidecar('binders: { slow: { type: rabbit, rabbit: { url: "amqp://u:p@nowhere" } } }\nbindings: { out: { direction: output } }', { slow });
    const response = await send(running, 'out', '{}');
    expect(response.status).toBe(504);
    expect(response.body.code).toBe('BINDERY_ERR_CONFIRM_TIMEOUT');
  });

  it('answers 409 on a stopped output until it is started again', async () => {
    const { running } = await pullSidecar();
    expect((await post(`${running.apiUrl}/v1/bindings/out/state`, { state: 'stopped' })).body.state).toBe('stopped');
    const refused = await send(running, 'out', '{}');
    expect([refused.status, refused.body.code]).toEqual([409, 'BINDERY_ERR_BINDING_STOPPED']);
    await post(`${running.apiUrl}/v1/bindings/out/state`, { state: 'started' });
    expect((await send(running, 'out', '{}')).status).toBe(202);
  });

  it('survives bad requests: a socket that sends garbage, a body cut short, an SSE client that leaves', async () => {
    const { running } = await pullSidecar();
    const { port } = new URL(running.apiUrl);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/send/out HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"half":');
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('\u0000\u0001 not http at all\r\n\r\n'));
      socket.on('data', () => socket.destroy());
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    await listener.close();
    const response = await send(running, 'out', '{"still":"alive"}');
    expect(response.status).toBe(202);
    expect((await fetch(`${running.opsUrl}/healthz`)).status).toBe(200);
  });
});

describe('send', () => {
  it('answers 202 with id, destination, binder and partition, and carries headers and content type', async () => {
    const { running, destination } = await pullSidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    const answer = await send(running, 'out', '{"n":1}', { 'content-type': 'application/json', 'x-msg-id': 'order-1', 'x-msg-tenant': 'acme' });
    expect(answer).toMatchObject({ status: 202, body: { id: 'order-1', destination, binder: 'mem', partition: null } });
    const keyed = await send(running, 'keyed', '{}', { 'content-type': 'application/json', 'x-partition-key': 'customer-7' });
    expect(keyed.body.partition).toEqual(expect.any(Number));
    const generated = await send(running, 'text', 'plain words', { 'content-type': 'text/plain' });
    expect(generated.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const unknownType = await send(running, 'out', Buffer.from([1, 2, 3]), { 'content-type': 'application/x-custom' });
    expect(unknownType.status).toBe(202);
    await waitFor('condition', () => listener.events.length === 4);
    expect(listener.events[0]).toMatchObject({ id: 'order-1', data: { id: 'order-1', payload: { n: 1 }, contentType: 'application/json', headers: { tenant: 'acme' }, attempt: 1 } });
    expect(listener.events[1]!.data.partition).toBe(keyed.body.partition);
    expect(listener.events[2]!.data).toMatchObject({ payload: 'plain words', contentType: 'text/plain' });
    expect(listener.events[3]!.data).toMatchObject({ payload: 'AQID', contentType: 'application/x-custom' });
  });
});

describe('listen over SSE', () => {
  it('acks automatically once written', async () => {
    const { mem, running, destination } = await pullSidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    expect([listener.status, listener.contentType]).toEqual([200, 'text/event-stream; charset=utf-8']);
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    for (let i = 0; i < 3; i++) await send(running, 'out', String(i));
    await waitFor('condition', () => listener.events.length === 3);
    expect(listener.events.map((e) => e.data.payload)).toEqual([0, 1, 2]);
    await listener.close();
    expect(mem.queueDepth(`${destination}.g`)).toBe(0);
  });

  it('manual: acked messages are gone, nacked ones come back with attempt + 1, then dead-letter', async () => {
    const { mem, running, destination } = await pullSidecar(unique('orders'), '{ maxAttempts: 2, ackTimeout: 60000, concurrency: 2, deadLetter: true }');
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in?ack=manual`);
    cleanups.push(() => listener.close());
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    await send(running, 'out', '"keep"', { 'content-type': 'application/json', 'x-msg-id': 'a' });
    await send(running, 'out', '"fail"', { 'content-type': 'application/json', 'x-msg-id': 'b' });
    await waitFor('condition', () => listener.events.length === 2);
    expect((await post(`${running.apiUrl}/v1/ack/in/a`)).status).toBe(204);
    expect((await post(`${running.apiUrl}/v1/ack/in/a`)).status).toBe(404);
    expect((await post(`${running.apiUrl}/v1/nack/in/b`)).status).toBe(204);
    await waitFor('condition', () => listener.events.length === 3);
    expect(listener.events[2]).toMatchObject({ id: 'b', data: { attempt: 2 } });
    expect((await post(`${running.apiUrl}/v1/nack/in/b`, { reason: 'cannot parse' })).status).toBe(204);
    await waitFor('condition', () => mem.deadLetters(destination, 'g').length === 1);
    expect(mem.deadLetters(destination, 'g')[0]!.headers['x-exception-message']).toBe('cannot parse (attempt 2 of 2)');
    expect(listener.events).toHaveLength(3);
  });

  it('manual: redelivers after ackTimeout', async () => {
    const { running } = await pullSidecar(unique('orders'), '{ maxAttempts: 3, ackTimeout: 200 }');
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in?ack=manual`);
    cleanups.push(() => listener.close());
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    await send(running, 'out', '"slow"', { 'content-type': 'application/json', 'x-msg-id': 'slow-1' });
    await waitFor('condition', () => listener.events.length === 2, 3000);
    expect(listener.events.map((e) => [e.id, e.data.attempt])).toEqual([['slow-1', 1], ['slow-1', 2]]);
    expect((await post(`${running.apiUrl}/v1/ack/in/slow-1`)).status).toBe(204);
  });

  it('competing listeners each get some, none twice', async () => {
    const { running } = await pullSidecar();
    const one = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    const two = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => one.close(), () => two.close());
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 2);
    for (let i = 0; i < 10; i++) await send(running, 'out', String(i));
    await waitFor('condition', () => one.events.length + two.events.length === 10);
    expect(one.events.length).toBeGreaterThan(0);
    expect(two.events.length).toBeGreaterThan(0);
    const ids = [...one.events, ...two.events].map((e) => e.id);
    expect(new Set(ids).size).toBe(10);
  });

  it('a listener that disconnects with unacked messages gives them to the others', async () => {
    const { running } = await pullSidecar(unique('orders'), '{ ackTimeout: 60000 }');
    const leaving = await SseReader.open(`${running.apiUrl}/v1/listen/in?ack=manual`);
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    await send(running, 'out', '"held"', { 'content-type': 'application/json', 'x-msg-id': 'held-1' });
    await waitFor('condition', () => leaving.events.length === 1);
    await leaving.close();
    const staying = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => staying.close());
    await waitFor('condition', () => staying.events.length === 1);
    expect(staying.events[0]).toMatchObject({ id: 'held-1', data: { attempt: 2 } });
  });
});

describe('push delivery', () => {
  async function pushSidecar(target: PushTarget, consumer: string) {
    const mem = await memory();
    const destination = unique('orders');
    const running = await sidecar(
      `binders: { mem: { type: memory } }
bindings:
  out: { direction: output, destination: ${destination} }
  in: { direction: input, destination: ${destination}, group: g, consumer: ${consumer} }
app: { port: ${target.port} }`,
      { mem },
    );
    return { mem, running, destination };
  }

  it('POSTs to /<binding> with the content type, x-msg-* and the attempt number', async () => {
    const target = await PushTarget.start();
    cleanups.push(() => target.close());
    const { running } = await pushSidecar(target, '{}');
    await send(running, 'out', '{"n":1}', { 'content-type': 'application/json', 'x-msg-id': 'p-1', 'x-msg-trace': 't-9' });
    await waitFor('condition', () => target.received.length === 1);
    expect(target.received[0]).toMatchObject({
      path: '/in',
      body: '{"n":1}',
      headers: { 'content-type': 'application/json', 'x-msg-id': 'p-1', 'x-msg-trace': 't-9', 'x-bindery-delivery-attempt': '1' },
    });
  });

  it('retries 5xx with back-off, then dead-letters with SCSt headers; counts it all in /metrics', async () => {
    const target = await PushTarget.start();
    cleanups.push(() => target.close());
    target.statuses = [500];
    const { mem, running, destination } = await pushSidecar(target, '{ maxAttempts: 3, backOffInitialInterval: 20, backOffMultiplier: 2, backOffMaxInterval: 100, path: /orders, deadLetter: true }');
    await send(running, 'out', '"poison"', { 'content-type': 'application/json', 'x-msg-id': 'poison-1' });
    await waitFor('condition', () => mem.deadLetters(destination, 'g').length === 1);
    expect(target.received.map((r) => [r.path, r.headers['x-bindery-delivery-attempt']])).toEqual([['/orders', '1'], ['/orders', '2'], ['/orders', '3']]);
    expect(mem.deadLetters(destination, 'g')[0]!.headers).toMatchObject({
      'x-exception-message': 'the app answered HTTP 500 (attempt 3 of 3)',
      'x-original-exchange': destination,
    });
    const metrics = await (await fetch(`${running.opsUrl}/metrics`)).text();
    const labels = `binding="in",destination="${destination}",binder="mem"`;
    expect(metrics).toContain(`bindery_deliveries_total{${labels},outcome="retry"} 2`);
    expect(metrics).toContain(`bindery_deliveries_total{${labels},outcome="dead_letter"} 1`);
    expect(metrics).toContain(`bindery_messages_received_total{${labels}} 1`);
    expect(metrics).toContain(`bindery_messages_sent_total{binding="out",destination="${destination}",binder="mem"} 1`);
    for (const name of ['bindery_send_duration_seconds', 'bindery_delivery_duration_seconds', 'bindery_consumer_lag', 'bindery_binder_up']) {
      expect(metrics).toContain(name);
    }
  });

  it('dead-letters a 4xx at once', async () => {
    const target = await PushTarget.start();
    cleanups.push(() => target.close());
    target.statuses = [422];
    const { mem, running, destination } = await pushSidecar(target, '{ maxAttempts: 3, deadLetter: true }');
    await send(running, 'out', '"bad"');
    await waitFor('condition', () => mem.deadLetters(destination, 'g').length === 1);
    expect(target.received).toHaveLength(1);
  });

  it('retries while the app is not listening, and delivers once it is', async () => {
    const target = await PushTarget.start();
    const port = target.port;
    await target.close();
    const { running } = await pushSidecar({ port } as PushTarget, '{ maxAttempts: 50, backOffInitialInterval: 20, backOffMultiplier: 1, backOffMaxInterval: 20 }');
    await send(running, 'out', '"early"');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { createServer } = await import('node:http');
    const bodies: string[] = [];
    const server = createServer((request, response) => {
      request.on('data', (c: Buffer) => bodies.push(c.toString()));
      request.on('end', () => response.writeHead(200).end());
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); }));
    await waitFor('condition', () => bodies.length === 1);
    expect(bodies).toEqual(['"early"']);
  });
});

describe('consumer lag', () => {
  it('shows the messages waiting for a binding in bindery_consumer_lag', async () => {
    // The sidecar's own memory binder: lag is reported to the sidecar that created the binder.
    const destination = unique('lag');
    const running = await sidecar(
      `binders: { mem: { type: memory } }\nbindings:\n  out: { direction: output, destination: ${destination} }\n  in: { direction: input, destination: ${destination}, group: g }`,
      {},
    );
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.consuming === true);
    for (let i = 0; i < 3; i++) await send(running, 'out', String(i));
    const line = `bindery_consumer_lag{binding="in",destination="${destination}",binder="mem"}`;
    await waitFor('lag 3', async () => (await (await fetch(`${running.opsUrl}/metrics`)).text()).includes(`${line} 3`), 5_000);
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    await waitFor('condition', () => listener.events.length === 3);
    await waitFor('lag 0', async () => (await (await fetch(`${running.opsUrl}/metrics`)).text()).includes(`${line} 0`), 5_000);
  });
});

describe('GET /v1/bindings and binding states', () => {
  it('lists bindings with direction, binder, destination, group and state', async () => {
    const { running, destination } = await pullSidecar();
    const response = await fetch(`${running.apiUrl}/v1/bindings`);
    const { bindings } = (await response.json()) as { bindings: Array<Record<string, unknown>> };
    expect(bindings.find((b) => b.name === 'in')).toMatchObject({ direction: 'input', binder: 'mem', binderType: 'memory', destination, group: 'g', state: 'started', delivery: 'pull' });
    expect(bindings.find((b) => b.name === 'out')).toMatchObject({ direction: 'output', destination, group: null, state: 'started' });
  });

  it('a stopped group input keeps its messages on the broker and gets them when started', async () => {
    const { mem, running, destination } = await pullSidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    expect((await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'stopped' })).body).toMatchObject({ state: 'stopped' });
    for (let i = 0; i < 4; i++) await send(running, 'out', String(i));
    expect(mem.queueDepth(`${destination}.g`)).toBe(4);
    expect((await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'started' })).body).toMatchObject({ state: 'started' });
    await waitFor('condition', () => listener.events.length === 4);
    expect(await (await fetch(`${running.opsUrl}/healthz`)).json()).toEqual({ status: 'ok' });
  });

  it('paused inputs hold messages until resumed', async () => {
    const { running } = await pullSidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'paused' });
    await send(running, 'out', '1');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(listener.events).toHaveLength(0);
    await post(`${running.apiUrl}/v1/bindings/in/state`, { state: 'resumed' });
    await waitFor('condition', () => listener.events.length === 1);
  });
});

describe('app.inject', () => {
  it('serves the API without a port', async () => {
    const { buildApp } = await import('../../../runtime/src/app.ts');
    const { parseConfig } = await import('../../../runtime/src/config/load.ts');
    const config = await parseConfig('binders: { mem: { type: memory } }\nbindings: { out: { direction: output } }', 't.yaml');
    const app = buildApp({ config });
    cleanups.push(() => app.close());
    const sent = await app.inject({ method: 'POST', url: '/v1/send/out', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' });
    expect(sent.statusCode).toBe(202);
    const wrong = await app.inject({ method: 'POST', url: '/v1/send/missing', payload: '{}' });
    expect(wrong.json()).toMatchObject({ statusCode: 404, code: 'BINDERY_ERR_UNKNOWN_BINDING' });
  });
});
