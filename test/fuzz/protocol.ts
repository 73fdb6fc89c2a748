/**
 * Fuzz cases of everything but sends: control routes, SSE listeners, routes that do not
 * exist, odd and oversized headers, bytes that are not HTTP, clients that trickle, stall or
 * walk away, and the ops port.
 */
import { connect } from 'node:net';
import { OK, errorShape, judge, type Expected } from './judge.ts';
import type { Random } from './random.ts';
import type { FuzzCase } from './sends.ts';
import { BINDINGS, isVerdict, send, sendRaw, type Request } from './target.ts';

function requestCase(kind: string, request: Request, expected: Expected, on: 'api' | 'ops' = 'api'): FuzzCase {
  return {
    kind,
    summary: `${request.method} ${request.path.slice(0, 120)}${request.body !== undefined ? ` ${JSON.stringify(String(request.body).slice(0, 60))}` : ''}`,
    async run(target) {
      const answer = await send(target, request, on);
      return isVerdict(answer) ? answer : judge(answer, expected);
    },
  };
}

function rawCase(kind: string, summary: string, bytes: string | Buffer, expected: Expected, on: 'api' | 'ops' = 'api'): FuzzCase {
  return {
    kind,
    summary,
    async run(target) {
      const answer = await sendRaw(target, bytes, {}, on);
      return isVerdict(answer) ? answer : judge(answer, expected);
    },
  };
}

const STATES = ['stopped', 'started', 'paused', 'resumed'];

export function stateChange(random: Random): FuzzCase {
  const binding = random.weighted([[4, BINDINGS.scratchIn], [3, BINDINGS.scratchOut], [1, `unknown-${random.string(6)}`]] as const);
  const form = random.weighted([[6, 'valid'], [1, 'unknown-state'], [1, 'not-json'], [1, 'not-json-type'], [1, 'empty']] as const);
  const state = random.pick(STATES);
  const path = `/v1/bindings/${binding}/state`;
  const json = { 'content-type': 'application/json' };
  switch (form) {
    case 'unknown-state':
      return requestCase('state', { method: 'POST', path, headers: json, body: JSON.stringify({ state: random.string(6) }) }, { statuses: [400], code: 'BINDERY_ERR_INVALID_REQUEST' });
    case 'not-json':
      return requestCase('state', { method: 'POST', path, headers: json, body: `{state:${state}` }, { statuses: [400], code: 'BINDERY_ERR_INVALID_REQUEST' });
    case 'not-json-type':
      return requestCase('state', { method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: state }, { statuses: [415], code: 'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE' });
    case 'empty':
      return requestCase('state', { method: 'POST', path, headers: json, body: '' }, { statuses: [400], code: 'BINDERY_ERR_INVALID_REQUEST' });
    case 'valid': {
      const body = JSON.stringify({ state });
      if (binding.startsWith('unknown-')) return requestCase('state', { method: 'POST', path, headers: json, body }, { statuses: [404], code: 'BINDERY_ERR_UNKNOWN_BINDING' });
      const pausing = state === 'paused' || state === 'resumed';
      // An output never pauses; an input pauses unless it is stopped.
      const expected: Expected = binding === BINDINGS.scratchOut && pausing ? { statuses: [400], code: 'BINDERY_ERR_INVALID_STATE' } : pausing ? { statuses: [200, 400] } : { statuses: [200] };
      return requestCase('state', { method: 'POST', path, headers: json, body }, expected);
    }
  }
}

export function settleUnknown(random: Random): FuzzCase {
  const verb = random.pick(['ack', 'nack']);
  const target = random.weighted([[4, 'input'], [1, 'output'], [1, 'unknown'], [1, 'too-long']] as const);
  const id = target === 'too-long' ? random.string(random.int(1025, 3000)) : encodeURIComponent(random.string(random.int(1, 255), 'abcdefXYZ0123456789-_.~é ?#'));
  const binding = target === 'output' ? 'out' : target === 'unknown' ? `unknown-${random.string(5)}` : random.pick([BINDINGS.pulled, BINDINGS.manual]);
  const expected: Expected =
    target === 'too-long' ? { statuses: [414], code: 'BINDERY_ERR_URI_TOO_LONG' }
      : target === 'output' ? { statuses: [409], code: 'BINDERY_ERR_WRONG_DIRECTION' }
        : target === 'unknown' ? { statuses: [404], code: 'BINDERY_ERR_UNKNOWN_BINDING' }
          : { statuses: [404], code: 'BINDERY_ERR_UNKNOWN_DELIVERY' };
  const body = verb === 'nack' && random.chance(0.5) ? JSON.stringify({ requeue: random.chance(0.5), reason: random.string(random.int(0, 100)) }) : undefined;
  return requestCase('ack', { method: 'POST', path: `/v1/${verb}/${binding}/${id}`, ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body }) }, expected);
}

/** A manual SSE listener that takes what comes for a moment, acks or nacks it, and leaves. */
export function listen(random: Random): FuzzCase {
  const form = random.weighted([[6, 'manual'], [1, 'bad-mode'], [1, 'output'], [1, 'unknown']] as const);
  if (form === 'bad-mode') return requestCase('listen', { method: 'GET', path: `/v1/listen/${BINDINGS.manual}?ack=${random.string(4)}` }, { statuses: [400], code: 'BINDERY_ERR_INVALID_REQUEST' });
  if (form === 'output') return requestCase('listen', { method: 'GET', path: '/v1/listen/out' }, { statuses: [409], code: 'BINDERY_ERR_WRONG_DIRECTION' });
  if (form === 'unknown') return requestCase('listen', { method: 'GET', path: `/v1/listen/nope-${random.string(5)}` }, { statuses: [404], code: 'BINDERY_ERR_UNKNOWN_BINDING' });
  const holdMs = random.int(20, 400);
  const settle = random.pick(['ack', 'nack', 'none']);
  return {
    kind: 'listen',
    summary: `GET /v1/listen/${BINDINGS.manual}?ack=manual for ${holdMs} ms, then ${settle}`,
    async run(target) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), holdMs);
      const ids: string[] = [];
      try {
        const response = await target.client.request({ method: 'GET', path: `/v1/listen/${BINDINGS.manual}?ack=manual`, signal: abort.signal, headersTimeout: target.hangMs });
        if (response.statusCode !== 200) {
          const body = await response.body.text();
          return { ok: false, failure: response.statusCode >= 500 ? '5xx' : 'off-contract', detail: `${response.statusCode} ${body.slice(0, 200)}` };
        }
        for await (const chunk of response.body) for (const match of String(chunk).matchAll(/^id: (.*)$/gm)) ids.push(match[1]!);
      } catch (error) {
        if (!abort.signal.aborted) return { ok: false, failure: 'off-contract', detail: `the stream failed: ${(error as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
      // Leaving gave the unsettled back: an ack now may find it gone (404) or not yet (204).
      if (settle === 'none' || ids.length === 0) return OK;
      const answer = await send(target, { method: 'POST', path: `/v1/${settle}/${BINDINGS.manual}/${encodeURIComponent(ids[0]!)}` });
      return isVerdict(answer) ? answer : answer.status === 204 ? OK : judge(answer, { statuses: [404], code: 'BINDERY_ERR_UNKNOWN_DELIVERY' });
    },
  };
}

/** Routes that exist, routes that do not, and paths the router cannot read. */
export function route(random: Random): FuzzCase {
  const form = random.weighted([[3, 'bindings'], [3, 'unknown'], [2, 'wrong-method'], [2, 'bad-escape'], [1, 'long-segment'], [1, 'odd-method']] as const);
  switch (form) {
    case 'bindings':
      return requestCase('route', { method: 'GET', path: `/v1/bindings${random.chance(0.3) ? `?${random.string(10)}=1` : ''}` }, { statuses: [200] });
    case 'unknown':
      return requestCase('route', { method: random.pick(['GET', 'POST', 'DELETE']), path: `/${random.string(random.int(0, 40), 'abcv1/._~-')}` }, { statuses: [404, 400], code: undefined });
    case 'wrong-method':
      return requestCase('route', { method: random.pick(['PUT', 'PATCH', 'DELETE', 'GET']), path: '/v1/send/out' }, { statuses: [404], code: 'BINDERY_ERR_NOT_FOUND' });
    case 'bad-escape':
      return requestCase('route', { method: 'GET', path: `/v1/listen/${random.pick(['%', '%E0%A4%A', '%ZZ', '%C0%80x'])}` }, { statuses: [400], code: 'BINDERY_ERR_MALFORMED_REQUEST' });
    case 'long-segment':
      return requestCase('route', { method: 'POST', path: `/v1/send/${random.string(random.int(1025, 4000))}` }, { statuses: [414], code: 'BINDERY_ERR_URI_TOO_LONG' });
    case 'odd-method':
      return requestCase('route', { method: random.pick(['OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL']), path: '/v1/bindings' }, { statuses: [404, 405, 400] });
  }
}

const HEAD = 'POST /v1/send/out HTTP/1.1\r\nHost: x\r\n';

/** Headers fetch would not send: odd, oversized, conflicting, folded, in Latin-1. */
export function oddHeaders(random: Random): FuzzCase {
  const form = random.weighted([[2, 'expect'], [2, 'oversized'], [2, 'conflicting-length'], [1, 'folded'], [2, 'chunked'], [2, 'latin1'], [1, 'many'], [1, 'bad-name']] as const);
  const body = '{"odd":true}';
  switch (form) {
    case 'expect':
      return rawCase('headers', 'an Expect that is not 100-continue', `${HEAD}Expect: ${random.string(8)}\r\nContent-Length: 2\r\n\r\n{}`, { statuses: [417], code: 'BINDERY_ERR_EXPECTATION_FAILED' });
    case 'oversized':
      return rawCase('headers', 'headers over 16 KiB', `${HEAD}X-Big: ${'a'.repeat(random.int(17_000, 40_000))}\r\nContent-Length: 2\r\n\r\n{}`, { statuses: [431], code: 'BINDERY_ERR_HEADERS_TOO_LARGE' });
    case 'conflicting-length':
      return rawCase('headers', 'two different Content-Lengths', `${HEAD}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, { statuses: [400], code: 'BINDERY_ERR_MALFORMED_REQUEST' });
    case 'folded':
      return rawCase('headers', 'a folded header line', `${HEAD}X-Msg-A: one\r\n two\r\nContent-Length: 2\r\n\r\n{}`, { statuses: [400], code: 'BINDERY_ERR_MALFORMED_REQUEST' });
    case 'chunked': {
      const chunks = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      return rawCase('headers', 'a chunked body', `${HEAD}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`, { statuses: [202] });
    }
    case 'latin1':
      return rawCase('headers', 'header values in Latin-1', Buffer.concat([Buffer.from(`${HEAD}Content-Type: application/json\r\nX-Msg-Name: `), Buffer.from([0xe9, 0xe8, 0xff]), Buffer.from(`\r\nContent-Length: ${body.length}\r\n\r\n${body}`)]), { statuses: [202] });
    case 'many': {
      const headers = Array.from({ length: random.int(100, 600) }, (_, i) => `X-Msg-H${i}: ${i}\r\n`).join('');
      return rawCase('headers', 'hundreds of message headers', `${HEAD}${headers}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { statuses: [202] });
    }
    case 'bad-name':
      return rawCase('headers', 'a header name with a space', `${HEAD}X Msg: a\r\nContent-Length: 2\r\n\r\n{}`, { statuses: [400], code: 'BINDERY_ERR_MALFORMED_REQUEST' });
  }
}

/** Bytes that are not HTTP/1.1 at all; every answer is the API's 400 (or 431 when long). */
export function garbage(random: Random, on: 'api' | 'ops'): FuzzCase {
  const form = random.weighted([[3, 'bytes'], [2, 'method'], [2, 'version'], [1, 'line']] as const);
  const bytes =
    form === 'bytes' ? Buffer.concat([Buffer.from([random.int(0, 31)]), random.bytes(random.int(0, 300)), Buffer.from('\r\n\r\n')])
      : form === 'method' ? `${random.string(random.int(1, 10), 'abc<>@{}')} / HTTP/1.1\r\nHost: x\r\n\r\n`
        : form === 'version' ? `GET /v1/bindings HTTP/${random.pick(['9.9', '1', 'x', '1.1.1', '0'])}\r\nHost: x\r\n\r\n`
          : `${random.string(random.int(1, 80), 'GET /\t')}\r\n\r\n`;
  return {
    kind: 'garbage',
    summary: `${form} garbage on the ${on} port: ${JSON.stringify(bytes.toString('latin1').slice(0, 60))}`,
    async run(target) {
      const answer = await sendRaw(target, bytes, {}, on);
      if (isVerdict(answer)) return answer;
      if (answer.status >= 500) return { ok: false, failure: '5xx', detail: `${answer.status} ${answer.body.slice(0, 200)}` };
      if (answer.status < 400) return { ok: false, failure: 'off-contract', detail: `garbage answered ${answer.status}` };
      return errorShape(answer);
    },
  };
}

/** A send whose body trickles in, within the request timeout. */
export function slowBody(random: Random): FuzzCase {
  const body = '{"slow":true,"pad":"' + 'p'.repeat(random.int(0, 200)) + '"}';
  const pieces = random.int(2, 8);
  const gap = random.int(50, 250);
  const size = Math.ceil(body.length / pieces);
  const trickle = Array.from({ length: pieces }, (_, i) => ({ afterMs: gap * (i + 1), bytes: body.slice(i * size, (i + 1) * size) }));
  return {
    kind: 'slow',
    summary: `a body in ${pieces} pieces, ${gap} ms apart`,
    async run(target) {
      const answer = await sendRaw(target, `${HEAD}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, { trickle, timeoutMs: target.hangMs + gap * pieces });
      return isVerdict(answer) ? answer : judge(answer, { statuses: [202] });
    },
  };
}

/** A client that walks away halfway: nothing to judge but that the sidecar goes on. */
export function abandoned(random: Random): FuzzCase {
  const cut = random.pick(['request line', 'headers', 'body']);
  const bytes = cut === 'request line' ? 'POST /v1/se' : cut === 'headers' ? `${HEAD}Content-Ty` : `${HEAD}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"half":`;
  return {
    kind: 'abandoned',
    summary: `a client that leaves in the ${cut}`,
    async run(target) {
      const { hostname, port } = new URL(target.api);
      await new Promise<void>((resolve) => {
        const socket = connect({ host: hostname, port: Number(port) }, () => {
          socket.write(bytes);
          setTimeout(() => socket.destroy(), random.int(1, 50));
        });
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
      return OK;
    },
  };
}

/** A body that stops arriving: the request timeout must answer 408 and close. */
export function stalledBody(): FuzzCase {
  return {
    kind: 'stalled',
    summary: 'a body that stops arriving',
    async run(target) {
      const answer = await sendRaw(target, `${HEAD}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"stalled":`, { timeoutMs: target.requestTimeoutMs + 5_000 });
      return isVerdict(answer) ? answer : judge(answer, { statuses: [408], code: 'BINDERY_ERR_REQUEST_TIMEOUT' });
    },
  };
}

export function opsRequest(random: Random): FuzzCase {
  const form = random.weighted([[3, 'healthz'], [3, 'readyz'], [2, 'metrics'], [2, 'unknown'], [2, 'garbage']] as const);
  if (form === 'garbage') return garbage(random, 'ops');
  if (form === 'unknown') return requestCase('ops', { method: random.pick(['GET', 'POST']), path: `/${random.string(random.int(1, 20))}` }, { statuses: [404], code: 'BINDERY_ERR_NOT_FOUND' }, 'ops');
  return requestCase('ops', { method: 'GET', path: `/${form}` }, { statuses: [200] }, 'ops');
}
