import { describe, expect, it } from 'vitest';
import { BinderUnavailableError, ConfirmTimeoutError } from '../../../../runtime/src/binders/binder.ts';
import { readFileSync } from 'node:fs';
import { InvalidPartitionKeyError, MissingPartitionKeyError } from '../../../../runtime/src/partition/index.ts';
import {
  API_ERROR_CODES,
  ExpectationFailedError,
  HeadersTooLargeError,
  InvalidRequestError,
  MalformedRequestError,
  RequestTimeoutError,
  RouteNotFoundError,
  UriTooLongError,
  UnsupportedMediaTypeError,
  clientErrorOf,
  errorBody,
  toApiError,
} from '../../../../runtime/src/routes/errors.ts';
import {
  BindingStoppedError,
  InvalidHeaderError,
  InvalidPayloadError,
  InvalidStateError,
  PayloadTooLargeError,
  UnknownBindingError,
  UnknownDeliveryError,
  WrongDirectionError,
} from '../../../../runtime/src/sidecar/errors.ts';

describe('toApiError: the one table from what went wrong to status and code (SPEC section 5)', () => {
  it.each([
    [new InvalidPayloadError('application/json', 'Unexpected end'), 400, 'BINDERY_ERR_INVALID_PAYLOAD'],
    [new InvalidHeaderError('x-msg-id too long'), 400, 'BINDERY_ERR_INVALID_HEADER'],
    [new MissingPartitionKeyError('no key'), 400, 'BINDERY_ERR_MISSING_PARTITION_KEY'],
    [new InvalidPartitionKeyError('too deep'), 400, 'BINDERY_ERR_INVALID_PARTITION_KEY'],
    [new MalformedRequestError('not HTTP'), 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    [new RequestTimeoutError('slow'), 408, 'BINDERY_ERR_REQUEST_TIMEOUT'],
    [new UriTooLongError('long'), 414, 'BINDERY_ERR_URI_TOO_LONG'],
    [new ExpectationFailedError('Expect: x'), 417, 'BINDERY_ERR_EXPECTATION_FAILED'],
    [new HeadersTooLargeError('big'), 431, 'BINDERY_ERR_HEADERS_TOO_LARGE'],
    [new InvalidRequestError('bad query'), 400, 'BINDERY_ERR_INVALID_REQUEST'],
    [new InvalidStateError('cannot pause an output'), 400, 'BINDERY_ERR_INVALID_STATE'],
    [new UnknownBindingError('nope'), 404, 'BINDERY_ERR_UNKNOWN_BINDING'],
    [new UnknownDeliveryError('in', 'id-1'), 404, 'BINDERY_ERR_UNKNOWN_DELIVERY'],
    [new RouteNotFoundError('GET', '/v2'), 404, 'BINDERY_ERR_NOT_FOUND'],
    [new WrongDirectionError('in', 'input', 'send'), 409, 'BINDERY_ERR_WRONG_DIRECTION'],
    [new BindingStoppedError('out'), 409, 'BINDERY_ERR_BINDING_STOPPED'],
    [new PayloadTooLargeError(64), 413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE'],
    [new UnsupportedMediaTypeError('text/plain'), 415, 'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE'],
    [new BinderUnavailableError('broker down'), 503, 'BINDERY_ERR_BINDER_UNAVAILABLE'],
    [new ConfirmTimeoutError('no confirm'), 504, 'BINDERY_ERR_CONFIRM_TIMEOUT'],
  ])('%s -> %i %s, with its message', (error, statusCode, code) => {
    expect(toApiError(error, undefined)).toEqual({ statusCode, code, message: error.message });
  });

  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE', 'the body is larger than maxMessageBytes (1024 bytes)'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE', 'fastify says so'],
    ['FST_ERR_VALIDATION', 400, 'BINDERY_ERR_INVALID_REQUEST', 'fastify says so'],
    ['FST_ERR_BAD_URL', 400, 'BINDERY_ERR_MALFORMED_REQUEST', 'the URL does not decode (a malformed %-escape)'],
    ['FST_ERR_MAX_PARAM_LENGTH', 414, 'BINDERY_ERR_URI_TOO_LONG', 'a path segment is longer than 1024 characters'],
  ])('fastify\'s %s -> %i %s', (fastifyCode, statusCode, code, message) => {
    const error = Object.assign(new Error('fastify says so'), { code: fastifyCode, statusCode: 400 });
    expect(toApiError(error, 1024)).toEqual({ statusCode, code, message });
  });

  it('anything else is a 500 that tells nothing of the cause', () => {
    expect(toApiError(new Error('secret detail'), undefined)).toEqual({ statusCode: 500, code: 'BINDERY_ERR_INTERNAL', message: 'internal error; see the sidecar log' });
  });

  it.each([
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'BINDERY_ERR_REQUEST_TIMEOUT'],
    ['HPE_HEADER_OVERFLOW', 431, 'BINDERY_ERR_HEADERS_TOO_LARGE'],
    ['HPE_INVALID_METHOD', 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
    [undefined, 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
  ])('the HTTP parser\'s %s -> %i %s', (parserCode, statusCode, code) => {
    expect(clientErrorOf(Object.assign(new Error('parse error'), { code: parserCode }))).toMatchObject({ statusCode, code });
  });

  it.each(['ECONNRESET', 'EPIPE'])('a peer gone (%s) gets no answer', (parserCode) => {
    expect(clientErrorOf(Object.assign(new Error('gone'), { code: parserCode }))).toBeUndefined();
  });

  it('the body has exactly the documented fields', () => {
    expect(errorBody({ statusCode: 431, code: 'BINDERY_ERR_HEADERS_TOO_LARGE', message: 'm' }))
      .toEqual({ statusCode: 431, code: 'BINDERY_ERR_HEADERS_TOO_LARGE', error: 'Request Header Fields Too Large', message: 'm' });
  });

  it('README\'s error table lists every status and code, and nothing else', () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const documented = [...readme.matchAll(/^\| (\d{3}) \| `(BINDERY_ERR_[A-Z_]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(documented.sort()).toEqual(API_ERROR_CODES.map(([status, code]) => `${status} ${code}`).sort());
  });
});
