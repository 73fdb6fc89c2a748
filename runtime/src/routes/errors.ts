/**
 * The sidecar API's errors (SPEC section 5): the one table from what went wrong to the status
 * and the stable BINDERY_ERR_* code a client switches on. A code, once published, never
 * changes meaning. The core throws domain errors (sidecar/errors.ts, binders/binder.ts); the
 * HTTP layer adds its own few (bad request, unknown route) and maps all of them here.
 */
import { BinderUnavailableError, ConfirmTimeoutError } from '../binders/binder.ts';
import { MissingPartitionKeyError } from '../partition/index.ts';
import {
  BindingStoppedError,
  InvalidPayloadError,
  InvalidStateError,
  PayloadTooLargeError,
  UnknownBindingError,
  UnknownDeliveryError,
  WrongDirectionError,
} from '../sidecar/errors.ts';

/** A malformed control request: bad query, state or JSON body. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

/** A control request whose body is not JSON. */
export class UnsupportedMediaTypeError extends Error {
  override readonly name = 'UnsupportedMediaTypeError';
}

export class RouteNotFoundError extends Error {
  override readonly name = 'RouteNotFoundError';
  constructor(method: string, url: string) {
    super(`no route ${method} ${url}`);
  }
}

/** Seconds a client should wait before retrying a send the binder could not take. */
export const RETRY_AFTER_SECONDS = 1;

export interface ApiError {
  statusCode: number;
  code: string;
  message: string;
}

type ErrorClass = abstract new (...args: never[]) => Error;

const API_ERRORS: ReadonlyArray<readonly [ErrorClass, number, string]> = [
  [InvalidPayloadError, 400, 'BINDERY_ERR_INVALID_PAYLOAD'],
  [MissingPartitionKeyError, 400, 'BINDERY_ERR_MISSING_PARTITION_KEY'],
  [InvalidRequestError, 400, 'BINDERY_ERR_INVALID_REQUEST'],
  [InvalidStateError, 400, 'BINDERY_ERR_INVALID_STATE'],
  [UnknownBindingError, 404, 'BINDERY_ERR_UNKNOWN_BINDING'],
  [UnknownDeliveryError, 404, 'BINDERY_ERR_UNKNOWN_DELIVERY'],
  [RouteNotFoundError, 404, 'BINDERY_ERR_NOT_FOUND'],
  [WrongDirectionError, 409, 'BINDERY_ERR_WRONG_DIRECTION'],
  [BindingStoppedError, 409, 'BINDERY_ERR_BINDING_STOPPED'],
  [PayloadTooLargeError, 413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE'],
  [UnsupportedMediaTypeError, 415, 'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE'],
  [BinderUnavailableError, 503, 'BINDERY_ERR_BINDER_UNAVAILABLE'],
  [ConfirmTimeoutError, 504, 'BINDERY_ERR_CONFIRM_TIMEOUT'],
];

/** Every code the API answers with, for its OpenAPI document. */
export const ERROR_CODES: readonly string[] = [...API_ERRORS.map(([, , code]) => code), 'BINDERY_ERR_INTERNAL'];

/** The API error for anything a route or the core threw; `bodyLimit` names the limit of a body refused while read. */
export function toApiError(error: Error & { code?: unknown; statusCode?: number }, bodyLimit: number | undefined): ApiError {
  for (const [type, statusCode, code] of API_ERRORS) {
    if (error instanceof type) return { statusCode, code, message: error.message };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      // Refused while reading, above every binding's limit: the sidecar's own limit applies.
      return toApiError(new PayloadTooLargeError(bodyLimit ?? 0), undefined);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return toApiError(new UnsupportedMediaTypeError(error.message), undefined);
    case 'FST_ERR_VALIDATION':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return toApiError(new InvalidRequestError(error.message), undefined);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { statusCode: status, code: 'BINDERY_ERR_INVALID_REQUEST', message: error.message };
  return { statusCode: 500, code: 'BINDERY_ERR_INTERNAL', message: 'internal error; see the sidecar log' };
}
