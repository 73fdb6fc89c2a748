import { describe, expect, it } from 'vitest';
import { bulkAnswer, parseBulk } from '../../../../runtime/src/routes/bulk.ts';
import { InvalidRequestError } from '../../../../runtime/src/routes/errors.ts';
import { BinderUnavailableError } from '../../../../runtime/src/binders/binder.ts';
import type { SendRequest } from '../../../../runtime/src/sidecar/sidecar.ts';

const one = (line: string, contentType = 'application/json'): SendRequest | Error => parseBulk(Buffer.from(line), contentType)[0]!;

describe('parseBulk', () => {
  it.each([
    ['a JSON value for JSON', '{"payload":{"n":1}}', 'application/json', '{"n":1}'],
    ['the binding\'s default content type', '{"payload":"words"}', 'text/plain', 'words'],
    ['a line\'s own content type over the default', '{"payload":"AQID","contentType":"application/octet-stream"}', 'application/json', '\u0001\u0002\u0003'],
    ['text as it is', '{"payload":"héllo","contentType":"text/plain; charset=utf-8"}', 'application/json', 'héllo'],
    ['JSON strings quoted', '{"payload":"s"}', 'application/vnd.x+json', '"s"'],
  ])('payload: %s', (_name, line, contentType, bytes) => {
    const request = one(line, contentType) as SendRequest;
    expect(request.body.toString('latin1')).toBe(Buffer.from(bytes).toString('latin1'));
  });

  it.each([
    ['numbers past 2^53 unrounded', '{"payload":{"id":12345678901234567890,"x":1.50}}', '{"id":12345678901234567890,"x":1.50}'],
    ['spacing as written', '{ "payload" : { "n" : [1, 2] } , "id":"a"}', '{ "n" : [1, 2] }'],
    ['after other members', '{"id":"a","headers":{"payload":"no"},"payload":[{"a":"}]\\"}"}]}', '[{"a":"}]\\"}"}]'],
    ['a scalar', '{"payload":-1.5e3 }', '-1.5e3'],
    ['a string', '{"payload":"a \\"quoted\\" é"}', '"a \\"quoted\\" é"'],
    ['the last of two, as JSON.parse reads them', '{"payload":1,"payload":2}', '2'],
    ['a key written with escapes', '{"p\\u0061yload":true}', 'true'],
    ['non-ASCII before and in it', '{"id":"日本","payload":{"k":"日本"}}', '{"k":"日本"}'],
  ])('a JSON payload is the line\'s own bytes: %s', (_name, line, bytes) => {
    const request = one(line) as SendRequest;
    expect(request.body.toString('utf8')).toBe(bytes);
  });

  it('leaves the id\'s length to the limits every send has (sidecar/limits.ts)', () => {
    expect(one(`{"payload":1,"id":"${'x'.repeat(300)}"}`)).toMatchObject({ id: 'x'.repeat(300) });
    expect(one('{"payload":1,"id":""}')).toMatchObject({ id: '' });
  });

  it('reads id, headers, partition and message keys', () => {
    expect(one('{"payload":1,"id":"a","headers":{"tenant":"acme"},"partitionKey":"p","messageKey":"k"}')).toMatchObject({
      id: 'a', headers: { tenant: 'acme' }, key: 'p', messageKey: 'k',
    });
  });

  it.each([
    ['not JSON', '{"payload":', /^line 1: not JSON/],
    ['not an object', '[1]', /^line 1: not a JSON object$/],
    ['no payload', '{"id":"a"}', /^line 1: has no "payload"$/],
    ['a non-string id', '{"payload":1,"id":7}', /^line 1: "id" must be a string$/],
    ['a header that is not a string', '{"payload":1,"headers":{"n":1}}', /header "n" must be a string/],
    ['a text payload that is not a string', '{"payload":1,"contentType":"text/plain"}', /"payload" must be a string for text\/plain/],
  ])('refuses %s, naming the line', (_name, line, message) => {
    const error = one(line);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toMatch(message);
  });

  it('skips blank lines, keeps the others in order with their line numbers', () => {
    const parsed = parseBulk(Buffer.from('{"payload":1}\n\n  \nnope\n{"payload":2}\n'), 'application/json');
    expect(parsed.map((p) => (p instanceof Error ? p.message.split(':')[0] : (p as SendRequest).body.toString()))).toEqual(['1', 'line 4', '2']);
  });

  it('refuses a body without a message', () => {
    expect(() => parseBulk(Buffer.from('\n \n'), 'application/json')).toThrow(InvalidRequestError);
  });
});

describe('bulkAnswer', () => {
  it('reports each outcome in order, all sent only when none failed', () => {
    const sent = { id: 'a', destination: 'd', binder: 'b', partition: null };
    expect(bulkAnswer([{ ok: true, result: sent }])).toEqual({ allSent: true, results: [{ statusCode: 202, ...sent }] });
    expect(bulkAnswer([{ ok: true, result: sent }, { ok: false, error: new BinderUnavailableError('down') }])).toEqual({
      allSent: false,
      results: [
        { statusCode: 202, ...sent },
        { statusCode: 503, code: 'BINDERY_ERR_BINDER_UNAVAILABLE', error: 'Service Unavailable', message: 'down' },
      ],
    });
  });
});
