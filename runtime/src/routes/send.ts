import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Sidecar } from '../sidecar/sidecar.ts';
import { BindingParams, ErrorBody } from './schemas.ts';

const MESSAGE_HEADER_PREFIX = 'x-msg-';

declare module 'fastify' {
  interface FastifyRequest {
    /** The sender's Content-Type, exactly as sent (see the onRequest hook below). */
    messageContentType: string | undefined;
  }
}

/** `POST /v1/send/{binding}`: the body, as is, becomes one message. */
export function registerSendRoute(parent: FastifyInstance, sidecar: Sidecar): void {
  void parent.register(async (scope) => {
    const app = scope.withTypeProvider<TypeBoxTypeProvider>();
    // Any content type is a message body; the bytes go to the broker untouched, and JSON is
    // only parsed to validate it and to evaluate partition key expressions.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    // fastify answers 415 to a Content-Type it cannot parse (`text/`, a list of types) before
    // any parser runs. A message's content type is the sender's to choose, so it is taken
    // aside as sent, and the body is read as bytes whatever it says.
    app.decorateRequest('messageContentType', undefined);
    app.addHook('onRequest', (request, _reply, done) => {
      const contentType = request.headers['content-type'];
      if (contentType !== undefined) {
        if (contentType !== '') request.messageContentType = contentType;
        delete request.headers['content-type'];
      }
      done();
    });

    app.post(
      '/v1/send/:binding',
      {
        schema: {
          params: BindingParams,
          headers: Type.Object({
            'x-partition-key': Type.Optional(Type.String()),
            'x-message-key': Type.Optional(Type.String()),
            'x-msg-id': Type.Optional(Type.String()),
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
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const contentType = request.messageContentType;
        const result = await sidecar.send(request.params.binding, {
          body,
          headers,
          ...(contentType !== undefined && { contentType }),
          ...(request.headers['x-msg-id'] !== undefined && { id: request.headers['x-msg-id'] }),
          ...(request.headers['x-partition-key'] !== undefined && { key: request.headers['x-partition-key'] }),
          ...(request.headers['x-message-key'] !== undefined && { messageKey: request.headers['x-message-key'] }),
        });
        return reply.status(202).send(result);
      },
    );
  });
}
