import { describe, expect, it } from 'vitest';
import { appHeaders, attributeOf, eventFromRequest, percentEncoded } from '../../../../runtime/src/cloudevents/index.ts';
import { InvalidRequestError } from '../../../../runtime/src/routes/errors.ts';
import { InvalidPayloadError } from '../../../../runtime/src/sidecar/errors.ts';

const required = { 'ce-specversion': '1.0', 'ce-id': 'e-1', 'ce-source': '/orders', 'ce-type': 'order.created' };

describe('eventFromRequest: binary mode', () => {
  it('turns each ce-* header into a ce_* message header and leaves body and content type alone', () => {
    const body = Buffer.from('{"n":1}');
    const parts = eventFromRequest({ ...required, 'ce-subject': 'o-7', 'ce-traceid': 'ext', 'x-msg-a': 'b' }, body, 'application/json');
    expect(parts).toEqual({
      payload: body,
      contentType: 'application/json',
      headers: { ce_specversion: '1.0', ce_id: 'e-1', ce_source: '/orders', ce_type: 'order.created', ce_subject: 'o-7', ce_traceid: 'ext' },
    });
  });

  it('is no event without ce-* headers', () => {
    expect(eventFromRequest({ 'x-msg-a': 'b' }, Buffer.from('x'), 'text/plain').headers).toEqual({});
  });

  it('decodes percent-encoded values, as the HTTP binding writes what is not printable ASCII', () => {
    expect(eventFromRequest({ ...required, 'ce-subject': 'caf%C3%A9' }, Buffer.alloc(0), undefined).headers.ce_subject).toBe('café');
  });

  it.each([
    ['a required attribute missing', { 'ce-specversion': '1.0', 'ce-id': 'e', 'ce-source': '/s' }, 'the required attribute(s) type are missing'],
    ['another spec version', { ...required, 'ce-specversion': '0.3' }, 'specversion "0.3" is not supported; use "1.0"'],
    ['an attribute name CloudEvents forbids', { ...required, 'ce-my_ext': 'x' }, '"my_ext" is not an attribute name (a-z and 0-9, at most 20)'],
  ])('refuses %s with a 400 naming it', (_name, headers, message) => {
    expect(() => eventFromRequest(headers, Buffer.alloc(0), undefined)).toThrow(new InvalidRequestError(`the ce-* headers are no CloudEvent: ${message}`));
  });
});

describe('eventFromRequest: structured mode becomes binary mode on the broker', () => {
  const structured = (event: unknown): Buffer => Buffer.from(JSON.stringify(event));
  const attributes = { specversion: '1.0', id: 'e-2', source: '/orders', type: 'order.created' };
  const asMessageHeaders = { ce_specversion: '1.0', ce_id: 'e-2', ce_source: '/orders', ce_type: 'order.created' };

  it.each([
    ['JSON data as its JSON', { ...attributes, data: { n: 1 } }, '{"n":1}', 'application/json'],
    ['JSON data named by datacontenttype', { ...attributes, datacontenttype: 'application/vnd.x+json', data: [1] }, '[1]', 'application/vnd.x+json'],
    ['text data as its text', { ...attributes, datacontenttype: 'text/plain', data: 'héllo' }, 'héllo', 'text/plain'],
    ['data_base64 as its bytes', { ...attributes, datacontenttype: 'application/octet-stream', data_base64: Buffer.from('raw').toString('base64') }, 'raw', 'application/octet-stream'],
    ['no data as an empty body of bytes', attributes, '', 'application/octet-stream'],
  ])('%s', (_name, event, payload, contentType) => {
    const parts = eventFromRequest({}, structured(event), 'application/cloudevents+json; charset=utf-8');
    expect(parts.payload.toString('utf8')).toBe(payload);
    expect(parts.contentType).toBe(contentType);
    expect(parts.headers).toEqual(asMessageHeaders);
  });

  it('keeps extension attributes, numbers and booleans as their text', () => {
    const parts = eventFromRequest({}, structured({ ...attributes, priority: 3, urgent: true, data: 1 }), 'application/cloudevents+json');
    expect(parts.headers).toEqual({ ...asMessageHeaders, ce_priority: '3', ce_urgent: 'true' });
  });

  it('takes the attributes from the body, not from ce-* headers sent beside it', () => {
    const parts = eventFromRequest({ 'ce-id': 'header' }, structured({ ...attributes, data: 1 }), 'application/cloudevents+json');
    expect(parts.headers.ce_id).toBe('e-2');
  });

  it.each([
    ['a body that is not JSON', Buffer.from('{'), /^the body is not valid application\/cloudevents\+json: /],
    ['a JSON array', structured([attributes]), 'a structured CloudEvent is a JSON object'],
    ['a required attribute missing', structured({ specversion: '1.0', id: 'e', type: 't' }), 'the required attribute(s) source are missing'],
    ['both data and data_base64', structured({ ...attributes, data: 1, data_base64: 'AA==' }), 'give data or data_base64, not both'],
    ['an object attribute', structured({ ...attributes, ext: { a: 1 } }), 'attribute "ext" must be a string, number or boolean'],
  ])('refuses %s as an invalid payload', (_name, body, message) => {
    const attempt = (): unknown => eventFromRequest({}, body, 'application/cloudevents+json');
    expect(attempt).toThrow(InvalidPayloadError);
    expect(attempt).toThrow(message);
  });
});

describe('attributes read back from a message', () => {
  it.each([
    ['ce_id', 'id'], ['ce-id', 'id'], ['cloudEvents:id', 'id'], ['ce_', undefined], ['id', undefined], ['x-ce_id', undefined],
  ])('%s carries %s', (header, attribute) => {
    expect(attributeOf(header)).toBe(attribute);
  });

  it('renames every prefix Spring writes to ce-<attribute> and leaves other headers alone', () => {
    expect(appHeaders({ ce_id: '1', 'cloudEvents:source': '/s', 'ce-type': 't', traceparent: 'tp', other: 'o' }))
      .toEqual({ 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', traceparent: 'tp', other: 'o' });
  });

  it('percent-encodes what an HTTP header value cannot hold', () => {
    expect(percentEncoded('café "100%"')).toBe('caf%C3%A9 %22100%25%22');
  });
});
