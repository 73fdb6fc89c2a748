/**
 * The sidecar API's errors (SPEC section 5). The codes are part of the contract: clients
 * switch on them, so a code, once published, never changes meaning.
 */
import createError from '@fastify/error';

export const UnknownBindingError = createError<'BINDERY_ERR_UNKNOWN_BINDING', 404, [string]>(
  'BINDERY_ERR_UNKNOWN_BINDING', 'no binding named "%s"', 404);
export const WrongDirectionError = createError<'BINDERY_ERR_WRONG_DIRECTION', 409, [string, string, string]>(
  'BINDERY_ERR_WRONG_DIRECTION', 'binding "%s" is an %s binding: it cannot %s', 409);
export const InvalidPayloadError = createError<'BINDERY_ERR_INVALID_PAYLOAD', 400, [string, string]>(
  'BINDERY_ERR_INVALID_PAYLOAD', 'the body is not valid %s: %s', 400);
export const PayloadTooLargeError = createError<'BINDERY_ERR_PAYLOAD_TOO_LARGE', 413, [number]>(
  'BINDERY_ERR_PAYLOAD_TOO_LARGE', 'the body is larger than maxMessageBytes (%d bytes)', 413);
export const BinderUnavailableHttpError = createError<'BINDERY_ERR_BINDER_UNAVAILABLE', 503, [string]>(
  'BINDERY_ERR_BINDER_UNAVAILABLE', '%s', 503);
export const ConfirmTimeoutHttpError = createError<'BINDERY_ERR_CONFIRM_TIMEOUT', 504, [string]>(
  'BINDERY_ERR_CONFIRM_TIMEOUT', '%s', 504);
export const UnknownDeliveryError = createError<'BINDERY_ERR_UNKNOWN_DELIVERY', 404, [string, string]>(
  'BINDERY_ERR_UNKNOWN_DELIVERY', 'binding "%s" has no delivery "%s" awaiting an ack (already settled, timed out, or never sent)', 404);
export const BindingStoppedError = createError<'BINDERY_ERR_BINDING_STOPPED', 409, [string]>(
  'BINDERY_ERR_BINDING_STOPPED', 'binding "%s" is stopped: start it with POST /v1/bindings/{binding}/state', 409);
export const InvalidStateError = createError<'BINDERY_ERR_INVALID_STATE', 400, [string]>(
  'BINDERY_ERR_INVALID_STATE', '%s', 400);
export const InvalidRequestError = createError<'BINDERY_ERR_INVALID_REQUEST', 400, [string]>(
  'BINDERY_ERR_INVALID_REQUEST', '%s', 400);
export const UnsupportedMediaTypeError = createError<'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE', 415, [string]>(
  'BINDERY_ERR_UNSUPPORTED_MEDIA_TYPE', '%s', 415);
export const NotFoundError = createError<'BINDERY_ERR_NOT_FOUND', 404, [string, string]>(
  'BINDERY_ERR_NOT_FOUND', 'no route %s %s', 404);
export const InternalError = createError<'BINDERY_ERR_INTERNAL', 500, [string]>(
  'BINDERY_ERR_INTERNAL', '%s', 500);

/** Seconds a client should wait before retrying a send the binder could not take. */
export const RETRY_AFTER_SECONDS = 1;
