/**
 * The two ways into `POST /v1/send/{binding}` (docs/adr/0056): plain requests take the lean
 * path ahead of fastify's router, chunked bodies and URLs with a query go through fastify's
 * route. Over real HTTP, each case is sent both ways and must be answered byte for byte alike.
 */
import { describe, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { memorySidecars } from './memory-sidecars.ts';

const { pullSidecar } = memorySidecars();

interface Answer {
  status: number;
  contentType: string | null;
  retryAfter: string | null;
  body: string;
}

type Way = 'plain' | 'chunked' | 'with a query';

async function sendBy(way: Way, running: RunningSidecar, binding: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const url = `${running.apiUrl}/v1/send/${binding}${way === 'with a query' ? '?via=router' : ''}`;
  const init: RequestInit & { duplex?: 'half' } = way === 'chunked'
    ? { method: 'POST', headers, body: new Blob([body]).stream(), duplex: 'half' }
    : { method: 'POST', headers, body };
  const response = await fetch(url, init);
  return { status: response.status, contentType: response.headers.get('content-type'), retryAfter: response.headers.get('retry-after'), body: await response.text() };
}

describe('sends answered alike on the lean path and through fastify', () => {
  const json = { 'content-type': 'application/json' };
  it.each([
    ['a message with its own id', 'out', '{"n":1}', { ...json, 'x-msg-id': 'same-id', 'x-msg-tenant': 'acme' }, 202],
    ['a body that is not the JSON it says it is', 'out', '{"n":', json, 400],
    ['a body over the binding\'s own limit', 'small', `"${'x'.repeat(64)}"`, json, 413],
    ['an unknown binding', 'nope', '{}', json, 404],
    ['an input binding', 'in', '{}', json, 409],
    ['a CloudEvent without its required attributes', 'out', '{}', { ...json, 'ce-id': '1' }, 400],
    ['an empty x-msg-id', 'out', '{}', { ...json, 'x-msg-id': '' }, 400],
    ['a bulk request with a bad line', 'out', '{"id":"b-1","payload":1}\nnot json\n', { 'content-type': 'application/x-ndjson' }, 207],
  ])('%s', async (_name, binding, body, headers, status) => {
    const { running } = await pullSidecar();
    const answers = new Map<Way, Answer>();
    for (const way of ['plain', 'chunked', 'with a query'] as const) answers.set(way, await sendBy(way, running, binding, body, headers));
    const plain = answers.get('plain')!;
    expect(plain.status).toBe(status);
    expect(plain.contentType).toBe('application/json; charset=utf-8');
    // Auto ids and binding names differ by nothing else; the message ids given are the same.
    expect(answers.get('chunked')).toEqual(plain);
    expect(answers.get('with a query')).toEqual(plain);
  });

  it('a send whose binder is down: 503 with Retry-After, both ways', async () => {
    const { running, mem } = await pullSidecar();
    await mem.close();
    const plain = await sendBy('plain', running, 'out', '{}', json);
    expect(plain).toMatchObject({ status: 503, retryAfter: '1' });
    expect(JSON.parse(plain.body)).toMatchObject({ code: 'BINDERY_ERR_BINDER_UNAVAILABLE' });
    expect(await sendBy('chunked', running, 'out', '{}', json)).toEqual(plain);
  });
});
