import { Type } from '@sinclair/typebox';

export const BindingParams = Type.Object({ binding: Type.String({ minLength: 1 }) });

export const DeliveryParams = Type.Object({ binding: Type.String({ minLength: 1 }), id: Type.String({ minLength: 1 }) });

/** SPEC section 5's error body. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
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
