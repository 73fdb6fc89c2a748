import { describe, expect, it } from 'vitest';
import { BinderUnavailableError, ConfirmTimeoutError } from '../../../../runtime/src/binders/binder.ts';
import { MissingPartitionKeyError } from '../../../../runtime/src/partition/index.ts';
import { InvalidRequestError, RouteNotFoundError, toApiError, UnsupportedMediaTypeError } from '../../../../runtime/src/routes/errors.ts';
import {
  BindingStoppedError,
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
    [new MissingPartitionKeyError('no key'), 400, 'BINDERY_ERR_MISSING_PARTITION_KEY'],
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
  ])('fastify\'s %s -> %i %s', (fastifyCode, statusCode, code, message) => {
    const error = Object.assign(new Error('fastify says so'), { code: fastifyCode, statusCode: 400 });
    expect(toApiError(error, 1024)).toEqual({ statusCode, code, message });
  });

  it('anything else is a 500 that tells nothing of the cause', () => {
    expect(toApiError(new Error('secret detail'), undefined)).toEqual({ statusCode: 500, code: 'BINDERY_ERR_INTERNAL', message: 'internal error; see the sidecar log' });
  });
});
