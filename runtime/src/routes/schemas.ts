import { Type } from '@sinclair/typebox';
import { API_ERROR_CODES } from './errors.ts';

export const BindingParams = Type.Object({ binding: Type.String({ minLength: 1 }) });

export const DeliveryParams = Type.Object({ binding: Type.String({ minLength: 1 }), id: Type.String({ minLength: 1 }) });

/** SPEC section 5's error body. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  // An enum in the OpenAPI document; serialised as a plain string.
  code: Type.Unsafe<string>({ type: 'string', enum: [...new Set(API_ERROR_CODES.map(([, code]) => code))] }),
  error: Type.String(),
  message: Type.String(),
});

export const BindingView = Type.Object({
  name: Type.String(),
  direction: Type.Union([Type.Literal('input'), Type.Literal('output')]),
  binder: Type.String(),
  binderType: Type.String(),
  binderState: Type.String(),
  destination: Type.String(),
  group: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union([Type.Literal('started'), Type.Literal('stopped'), Type.Literal('paused')]),
  delivery: Type.Optional(Type.Union([Type.Literal('push'), Type.Literal('pull')])),
  listeners: Type.Optional(Type.Integer()),
  consuming: Type.Optional(Type.Boolean()),
  error: Type.Optional(Type.String()),
});

/**
 * The headers a send takes, for the OpenAPI document only: the send route reads them by hand
 * (routes/send.ts says why). Besides Bindery's own, CloudEvents binary mode and W3C trace context.
 */
export const SendHeaders = Type.Object({
  'content-type': Type.Optional(Type.String()),
  'x-partition-key': Type.Optional(Type.String()),
  'x-message-key': Type.Optional(Type.String()),
  'x-msg-id': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'At most 255 bytes of UTF-8 (AMQP short string), as a bulk line\'s id' })),
  'ce-specversion': Type.Optional(Type.String({ description: 'CloudEvents binary mode: with ce-id, ce-source and ce-type, the send is a CloudEvent; every ce-<attribute> travels as the message header ce_<attribute>' })),
  'ce-id': Type.Optional(Type.String()),
  'ce-source': Type.Optional(Type.String()),
  'ce-type': Type.Optional(Type.String()),
  traceparent: Type.Optional(Type.String({ description: 'W3C trace context; travels in the message and comes back on push and SSE' })),
  tracestate: Type.Optional(Type.String()),
});
