/**
 * The sidecar API's errors (SPEC section 5): the one table from what went wrong to the status
 * and the stable BINDERY_ERR_* code a client switches on. A code, once published, never
 * changes meaning. The core throws domain errors (sidecar/errors.ts, binders/binder.ts); the
 * HTTP layer adds its own few (bad request, unknown route) and maps all of them here.
 */
import type * as http from 'node:http';
import { createRequire } from 'node:module';
import { BinderUnavailableError, ConfirmTimeoutError, MessageTooLargeError } from '../binders/binder.ts';
import { InvalidPartitionKeyError, MissingPartitionKeyError } from '../partition/index.ts';
import {
  BindingStoppedError,
  InvalidHeaderError,
  InvalidPayloadError,
  InvalidStateError,
  PayloadTooLargeError,
  UnknownBindingError,
  UnknownDeliveryError,
  WrongDirectionError,
} from '../sidecar/errors.ts';

/**
 * Node's reason phrases (and its server, for app.ts), required rather than imported: an ESM import of node:http makes Node
 * 22+ read every export of it, among them the lazy WebSocket getters that load Node's own fetch
 * (its undici and web streams), about 80 ms of CPU at every start on Node 24 (docs/adr/0053).
 */
export const { STATUS_CODES, createServer } = createRequire(import.meta.url)('node:http') as typeof http;

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

/** Not HTTP/1.1 the parser can read, or a URL that does not decode. */
export class MalformedRequestError extends Error {
  override readonly name = 'MalformedRequestError';
}

/** Headers or body that did not arrive within the port's timeouts. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
}

export class UriTooLongError extends Error {
  override readonly name = 'UriTooLongError';
}

/** An `Expect` header other than `100-continue`. */
export class ExpectationFailedError extends Error {
  override readonly name = 'ExpectationFailedError';
}

export class HeadersTooLargeError extends Error {
  override readonly name = 'HeadersTooLargeError';
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
  [InvalidHeaderError, 400, 'BINDERY_ERR_INVALID_HEADER'],
  [MissingPartitionKeyError, 400, 'BINDERY_ERR_MISSING_PARTITION_KEY'],
  [InvalidPartitionKeyError, 400, 'BINDERY_ERR_INVALID_PARTITION_KEY'],
  [InvalidRequestError, 400, 'BINDERY_ERR_INVALID_REQUEST'],
  [InvalidStateError, 400, 'BINDERY_ERR_INVALID_STATE'],
  [MalformedRequestError, 400, 'BINDERY_ERR_MALFORMED_REQUEST'],
  [UnknownBindingError, 404, 'BINDERY_ERR_UNKNOWN_BINDING'],
  [UnknownDeliveryError, 404, 'BINDERY_ERR_UNKNOWN_DELIVERY'],
  [RouteNotFoundError, 404, 'BINDERY_ERR_NOT_FOUND'],
  [RequestTimeoutError, 408, 'BINDERY_ERR_REQUEST_TIMEOUT'],
  [WrongDirectionError, 409, 'BINDERY_ERR_WRONG_DIRECTION'],
  [BindingStoppedError, 409, 'BINDERY_ERR_BINDING_STOPPED'],
  [PayloadTooLargeError, 413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE'],
  [MessageTooLargeError, 413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE'],
  [UriTooLongError, 414, 'BINDERY_ERR_URI_TOO_LONG'],
  [UnsupportedMediaTypeError, 415, 'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE'],
  [ExpectationFailedError, 417, 'BINDERY_ERR_EXPECTATION_FAILED'],
  [HeadersTooLargeError, 431, 'BINDERY_ERR_HEADERS_TOO_LARGE'],
  [BinderUnavailableError, 503, 'BINDERY_ERR_BINDER_UNAVAILABLE'],
  [ConfirmTimeoutError, 504, 'BINDERY_ERR_CONFIRM_TIMEOUT'],
];

/** Every status and code the table above can answer, and the one for anything else (README's error table lists them all). */
export const API_ERROR_CODES: ReadonlyArray<readonly [number, string]> = [
  // Several errors may share one code (413: the binding's limit, the broker's).
  ...new Map(API_ERRORS.map(([, statusCode, code]) => [`${statusCode} ${code}`, [statusCode, code] as const])).values(),
  [500, 'BINDERY_ERR_INTERNAL'],
];

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
    case 'FST_ERR_BAD_URL':
      return toApiError(new MalformedRequestError('the URL does not decode (a malformed %-escape)'), undefined);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return toApiError(new UriTooLongError(`a path segment is longer than ${MAX_PATH_SEGMENT} characters`), undefined);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { statusCode: status, code: 'BINDERY_ERR_INVALID_REQUEST', message: error.message };
  return { statusCode: 500, code: 'BINDERY_ERR_INTERNAL', message: 'internal error; see the sidecar log' };
}

/** Longest path segment the routes take: a binding name, or a message id (255 bytes) %-escaped. */
export const MAX_PATH_SEGMENT = 1024;

/**
 * What the HTTP parser refused before any route saw the request (Node's `clientError`), as
 * the API error it is; undefined when there is nobody left to answer (the peer reset).
 */
export function clientErrorOf(error: Error & { code?: string }): ApiError | undefined {
  switch (error.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return toApiError(new RequestTimeoutError('the request\'s headers or body did not arrive in time'), undefined);
    case 'HPE_HEADER_OVERFLOW':
      return toApiError(new HeadersTooLargeError('the request\'s headers are larger than the server takes'), undefined);
    default:
      return toApiError(new MalformedRequestError(`not a valid HTTP/1.1 request (${error.code ?? 'parse error'})`), undefined);
  }
}

/** SPEC section 5's error body. */
export function errorBody(error: ApiError): { statusCode: number; code: string; error: string; message: string } {
  return { statusCode: error.statusCode, code: error.code, error: STATUS_CODES[error.statusCode] ?? 'Error', message: error.message };
}
