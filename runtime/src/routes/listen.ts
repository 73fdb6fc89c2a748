import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Sidecar } from '../sidecar/sidecar.ts';
import { BindingParams, DeliveryParams, ErrorBody } from './schemas.ts';

/** Comment lines keep idle SSE streams open through proxies that close quiet connections. */
const HEARTBEAT_MS = 15_000;

/** `GET /v1/listen/{binding}` (SSE), `POST /v1/ack/...` and `POST /v1/nack/...`. */
export function registerListenRoutes(parent: FastifyInstance, sidecar: Sidecar): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/v1/listen/:binding',
    {
      schema: {
        params: BindingParams,
        querystring: Type.Object({ ack: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('manual')])) }),
        response: { '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const raw = reply.raw;
      const listener = {
        mode: request.query.ack ?? 'auto',
        write(event: Buffer, done: (error?: Error | null) => void) {
          if (raw.destroyed || raw.writableEnded) return done(new Error('listener disconnected'));
          raw.write(event, (error) => done(error));
        },
        end() {
          if (!raw.writableEnded) raw.end();
        },
      };
      // Throws (unknown binding, wrong direction) before the stream starts, so errors stay JSON.
      const remove = sidecar.listen(request.params.binding, listener);
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        // The stream is the connection's only use: when it ends, so does the socket, and a
        // shutting-down server need not wait for it to go idle.
        connection: 'close',
        'x-accel-buffering': 'no',
      });
      raw.write(': listening\n\n');
      const heartbeat = setInterval(() => {
        if (!raw.destroyed && !raw.writableEnded) raw.write(': ping\n\n');
      }, HEARTBEAT_MS);
      heartbeat.unref();
      const stop = (): void => {
        clearInterval(heartbeat);
        remove();
      };
      raw.on('close', stop);
      raw.on('error', () => undefined);
      // A client gone before the stream started never emits 'close' again.
      if (raw.destroyed || request.raw.destroyed) stop();
    },
  );

  app.post(
    '/v1/ack/:binding/:id',
    { schema: { params: DeliveryParams, response: { 204: Type.Null(), '4xx': ErrorBody, '5xx': ErrorBody } } },
    async (request, reply) => {
      await sidecar.ack(request.params.binding, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/nack/:binding/:id',
    {
      schema: {
        params: DeliveryParams,
        body: Type.Optional(
          Type.Object({
            /** false: dead-letter at once instead of redelivering. */
            requeue: Type.Optional(Type.Boolean()),
            reason: Type.Optional(Type.String({ maxLength: 1024 })),
          }),
        ),
        response: { 204: Type.Null(), '4xx': ErrorBody, '5xx': ErrorBody },
      },
      // A nack without a body is the common case: it reads as "no options".
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      await sidecar.nack(request.params.binding, request.params.id, {
        requeue: request.body?.requeue ?? true,
        ...(request.body?.reason !== undefined && { reason: request.body.reason }),
      });
      return reply.status(204).send(null);
    },
  );
}
