/**
 * What the sidecar's core refuses, as domain errors: plain classes that say what happened in
 * the user's words. The HTTP layer maps each to its status and stable BINDERY_ERR_* code in
 * one table (routes/errors.ts); the core knows nothing of HTTP.
 *
 * A broker that is down or refuses a message, and one that does not confirm in time, are the
 * binder contract's own BinderUnavailableError and ConfirmTimeoutError (binders/binder.ts).
 */

export class UnknownBindingError extends Error {
  override readonly name = 'UnknownBindingError';
  constructor(readonly binding: string) {
    super(`no binding named "${binding}"`);
  }
}

export class WrongDirectionError extends Error {
  override readonly name = 'WrongDirectionError';
  constructor(readonly binding: string, direction: 'input' | 'output', action: string) {
    super(`binding "${binding}" is an ${direction} binding: it cannot ${action}`);
  }
}

export class InvalidPayloadError extends Error {
  override readonly name = 'InvalidPayloadError';
  constructor(contentType: string, detail: string) {
    super(`the body is not valid ${contentType}: ${detail}`);
  }
}

/** A message id, content type or header name the brokers cannot carry (see limits.ts). */
export class InvalidHeaderError extends Error {
  override readonly name = 'InvalidHeaderError';
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
  constructor(readonly limit: number) {
    super(`the body is larger than maxMessageBytes (${limit} bytes)`);
  }
}

export class BindingStoppedError extends Error {
  override readonly name = 'BindingStoppedError';
  constructor(readonly binding: string) {
    super(`binding "${binding}" is stopped: start it with POST /v1/bindings/{binding}/state`);
  }
}

/** A state change the binding cannot make (pausing an output, resuming a stopped input). */
export class InvalidStateError extends Error {
  override readonly name = 'InvalidStateError';
}

export class UnknownDeliveryError extends Error {
  override readonly name = 'UnknownDeliveryError';
  constructor(readonly binding: string, readonly id: string) {
    super(`binding "${binding}" has no delivery "${id}" awaiting an ack (already settled, timed out, or never sent)`);
  }
}
