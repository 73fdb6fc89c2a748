/**
 * Bulk send over real HTTP on the memory binder: many messages in one `application/x-ndjson`
 * request, each answered on its own, and the refusals of the request as a whole.
 */
import { describe, expect, it } from 'vitest';
import { memorySidecars } from './memory-sidecars.ts';
import { SseReader, send, waitFor } from './support.ts';

const { cleanups, pullSidecar } = memorySidecars();

describe('bulk send (application/x-ndjson)', () => {
  const ndjson = (...lines: unknown[]): string => `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`;

  it('sends every line as a message, in order, and answers 200 with each one\'s receipt', async () => {
    const { running, destination } = await pullSidecar();
    const listener = await SseReader.open(`${running.apiUrl}/v1/listen/in`);
    cleanups.push(() => listener.close());
    await waitFor('condition', () => running.sidecar.bindings().find((b) => b.name === 'in')!.listeners === 1);
    const answer = await send(running, 'out', ndjson(
      { id: 'b-1', payload: { n: 1 }, headers: { tenant: 'acme' } },
      { payload: 'plain words', contentType: 'text/plain' },
      { payload: 'AQID', contentType: 'application/x-custom' },
    ), { 'content-type': 'application/x-ndjson' });
    expect(answer.status).toBe(200);
    const results = answer.body.results as Array<Record<string, unknown>>;
    expect(results).toEqual([
      { statusCode: 202, id: 'b-1', destination, binder: 'mem', partition: null },
      { statusCode: 202, id: expect.stringMatching(/^[0-9a-f-]{36}$/), destination, binder: 'mem', partition: null },
      { statusCode: 202, id: expect.any(String), destination, binder: 'mem', partition: null },
    ]);
    await waitFor('condition', () => listener.events.length === 3);
    expect(listener.events.map((event) => event.data)).toMatchObject([
      { id: 'b-1', payload: { n: 1 }, contentType: 'application/json', headers: { tenant: 'acme' } },
      { id: results[1]!.id, payload: 'plain words', contentType: 'text/plain' },
      { payload: 'AQID', contentType: 'application/x-custom' },
    ]);
  });

  it('answers 207 naming what is wrong with each refused line, and sends the others', async () => {
    const { running } = await pullSidecar();
    const answer = await send(running, 'keyed', ndjson(
      { payload: {}, partitionKey: 'customer-7' },
      '{"payload":',
      { payload: {} },
      { payload: 42, contentType: 'text/plain' },
      { id: 'x'.repeat(256), payload: {}, partitionKey: 'k' },
      { payload: [1], partitionKey: 'k' },
      { id: 'x'.repeat(255), payload: {}, partitionKey: 'k' },
      { id: 'é'.repeat(128), payload: {}, partitionKey: 'k' },
      { id: '', payload: {}, partitionKey: 'k' },
    ), { 'content-type': 'application/x-ndjson; charset=utf-8' });
    expect(answer.status).toBe(207);
    const results = answer.body.results as Array<Record<string, unknown>>;
    // A line's id has the single send's limit and error (255 bytes of UTF-8, 400 BINDERY_ERR_INVALID_HEADER).
    expect(results.map((r) => [r.statusCode, r.code])).toEqual([
      [202, undefined],
      [400, 'BINDERY_ERR_INVALID_REQUEST'],
      [400, 'BINDERY_ERR_MISSING_PARTITION_KEY'],
      [400, 'BINDERY_ERR_INVALID_REQUEST'],
      [400, 'BINDERY_ERR_INVALID_HEADER'],
      [202, undefined],
      [202, undefined],
      [400, 'BINDERY_ERR_INVALID_HEADER'],
      [400, 'BINDERY_ERR_INVALID_HEADER'],
    ]);
    expect(results[1]!.message).toMatch(/^line 2: not JSON/);
    expect(results[3]!.message).toContain('"payload" must be a string for text/plain');
    expect(results[4]!.message).toContain('longer than 255 bytes');
    expect(results[6]!.id).toBe('x'.repeat(255));
    expect(results[0]!.partition).toEqual(expect.any(Number));
    const small = await send(running, 'small', ndjson({ payload: 'x'.repeat(40) }), { 'content-type': 'application/x-ndjson' });
    expect((small.body.results as Array<Record<string, unknown>>)[0]).toMatchObject({ statusCode: 413, code: 'BINDERY_ERR_PAYLOAD_TOO_LARGE' });
  });

  it('refuses the whole request when the binding cannot send or the body holds no line', async () => {
    const { running } = await pullSidecar();
    const onInput = await send(running, 'in', ndjson({ payload: 1 }), { 'content-type': 'application/x-ndjson' });
    expect([onInput.status, onInput.body.code]).toEqual([409, 'BINDERY_ERR_WRONG_DIRECTION']);
    const empty = await send(running, 'out', '\n\n', { 'content-type': 'application/x-ndjson' });
    expect([empty.status, empty.body.code]).toEqual([400, 'BINDERY_ERR_INVALID_REQUEST']);
    const longId = await send(running, 'out', '{}', { 'content-type': 'application/json', 'x-msg-id': 'x'.repeat(256) });
    expect([longId.status, longId.body.code]).toEqual([400, 'BINDERY_ERR_INVALID_HEADER']);
  });
});

