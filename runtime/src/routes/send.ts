import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Sidecar } from '../sidecar/sidecar.ts';
import { eventFromRequest } from '../cloudevents/index.ts';
import { traceContextOf, traceHeaders } from '../tracing/context.ts';
import { BindingParams, ErrorBody, EventHeaders } from './schemas.ts';

const MESSAGE_HEADER_PREFIX = 'x-msg-';

/** `POST /v1/send/{binding}`: the body, as is, becomes one message. */
export function registerSendRoute(parent: FastifyInstance, sidecar: Sidecar): void {
  void parent.register(async (scope) => {
    const app = scope.withTypeProvider<TypeBoxTypeProvider>();
    // Any content type is a message body; the bytes go to the broker untouched, and JSON is
    // only parsed to validate it and to evaluate partition key expressions.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.post(
      '/v1/send/:binding',
      {
        schema: {
          params: BindingParams,
          headers: Type.Object({
            'content-type': Type.Optional(Type.String()),
            'x-partition-key': Type.Optional(Type.String()),
            'x-message-key': Type.Optional(Type.String()),
            'x-msg-id': Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
            ...EventHeaders,
          }),
          response: {
            202: Type.Object({
              id: Type.String(),
              destination: Type.String(),
              binder: Type.String(),
              partition: Type.Union([Type.Integer(), Type.Null()]),
            }),
            '4xx': ErrorBody,
            '5xx': ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) {
          if (name.startsWith(MESSAGE_HEADER_PREFIX) && name !== 'x-msg-id' && name.length > MESSAGE_HEADER_PREFIX.length) {
            headers[name.slice(MESSAGE_HEADER_PREFIX.length)] = Array.isArray(value) ? value.join(', ') : String(value);
          }
        }
        // A CloudEvent (either HTTP mode) and a W3C trace context travel as their own message headers.
        const event = eventFromRequest(request.headers, Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0), request.headers['content-type']);
        const body = event.payload;
        const contentType = event.contentType;
        const result = await sidecar.send(request.params.binding, {
          body,
          headers: { ...headers, ...event.headers, ...traceHeaders(traceContextOf(request.headers)) },
          ...(contentType && { contentType }),
          ...(request.headers['x-msg-id'] !== undefined && { id: request.headers['x-msg-id'] }),
          ...(request.headers['x-partition-key'] !== undefined && { key: request.headers['x-partition-key'] }),
          ...(request.headers['x-message-key'] !== undefined && { messageKey: request.headers['x-message-key'] }),
        });
        return reply.status(202).send(result);
      },
    );
  });
}
