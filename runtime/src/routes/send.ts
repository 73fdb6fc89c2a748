import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { SendRequest, Sidecar } from '../sidecar/sidecar.ts';
import { BULK_CONTENT_TYPE, bulkAnswer, parseBulk } from './bulk.ts';
import { ErrorBody } from './schemas.ts';
import { HTTP_PREFIX, eventFromRequest } from '../cloudevents/index.ts';
import { TRACEPARENT, traceContextOf, traceHeaders } from '../tracing/context.ts';

const MESSAGE_HEADER_PREFIX = 'x-msg-';
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

declare module 'fastify' {
  interface FastifyRequest {
    /** The sender's Content-Type, exactly as sent (see the onRequest hook below). */
    messageContentType: string | undefined;
  }
}

/**
 * `POST /v1/send/{binding}`: the body, as is, becomes one message; an `application/x-ndjson`
 * body is many messages, one per line (bulk.ts).
 *
 * The request is checked by hand rather than by a fastify schema: the schema would validate
 * (and copy) every request's headers, which cost more than the rest of the route on the
 * profile. The schemas stay for the answers: the error answers' serializer, and the OpenAPI
 * document for all of them.
 */
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
          response: {
            200: BulkResultBody,
            202: SendResultBody,
            207: BulkResultBody,
            '4xx': ErrorBody,
            '5xx': ErrorBody,
          },
        },
      },
      // The answers are written by JSON.stringify, their schemas kept for the documentation:
      // fast-json-stringify picks the branch of `partition`'s union (integer or null) by
      // running a validator on it, per answer and per bulk line, which cost more than
      // serializing the few fields that an answer is.
      async (request, reply) => {
        const { binding } = request.params as { binding: string };
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const contentType = request.messageContentType;
        if (contentType !== undefined && isBulk(contentType)) {
          const defaultContentType = sidecar.runtimeConfig.bindings[binding]?.contentType ?? 'application/json';
          const outcomes = await sidecar.sendBatch(binding, parseBulk(body, defaultContentType));
          const answer = bulkAnswer(outcomes);
          return reply.status(answer.allSent ? 200 : 207).header('content-type', JSON_CONTENT_TYPE).serializer(JSON.stringify).send({ results: answer.results });
        }
        const result = await sidecar.send(binding, singleMessage(request, body, contentType));
        return reply.status(202).header('content-type', JSON_CONTENT_TYPE).serializer(JSON.stringify).send(result);
      },
    );
  });
}

const SendResultBody = Type.Object({
  id: Type.String(),
  destination: Type.String(),
  binder: Type.String(),
  partition: Type.Union([Type.Integer(), Type.Null()]),
});

/** One shape for both outcomes of a message, so that a client reads each line's fields the same way. */
const BulkResultBody = Type.Object({
  results: Type.Array(Type.Object({
    statusCode: Type.Integer(),
    id: Type.Optional(Type.String()),
    destination: Type.Optional(Type.String()),
    binder: Type.Optional(Type.String()),
    partition: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    code: Type.Optional(Type.String()),
    error: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  })),
});

/**
 * One pass over the request's headers. A CloudEvent and a W3C trace context are looked for
 * only when a header (or the content type) says one is there: most sends carry neither, and
 * looking cost objects on every one.
 */
function singleMessage(request: FastifyRequest, body: Buffer, contentType: string | undefined): SendRequest {
  const headers: Record<string, string> = {};
  const raw = request.headers;
  let eventHeaders = false;
  for (const name in raw) {
    if (name.startsWith(MESSAGE_HEADER_PREFIX)) {
      if (name.length > MESSAGE_HEADER_PREFIX.length && name !== 'x-msg-id') {
        const value = raw[name];
        headers[name.slice(MESSAGE_HEADER_PREFIX.length)] = Array.isArray(value) ? value.join(', ') : String(value);
      }
    } else if (name.startsWith(HTTP_PREFIX)) {
      eventHeaders = true;
    }
  }
  let payload = body;
  let messageContentType = contentType;
  // A CloudEvent (either HTTP mode) and a W3C trace context travel as message headers of their own.
  if (eventHeaders || (contentType !== undefined && STRUCTURED.test(contentType))) {
    const event = eventFromRequest(raw, body, contentType);
    Object.assign(headers, event.headers);
    payload = event.payload;
    messageContentType = event.contentType;
  }
  if (raw[TRACEPARENT] !== undefined) Object.assign(headers, traceHeaders(traceContextOf(raw)));
  // Its length is checked with the other broker limits (sidecar/limits.ts), for bulk lines too.
  return {
    body: payload,
    headers,
    contentType: messageContentType || undefined,
    id: header(raw['x-msg-id']),
    key: header(raw['x-partition-key']),
    messageKey: header(raw['x-message-key']),
  };
}

/** Whether a content type may be a structured CloudEvent's; eventFromRequest tells for sure. */
const STRUCTURED = /cloudevents/i;

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function isBulk(contentType: string): boolean {
  return contentType.split(';', 1)[0]!.trim().toLowerCase() === BULK_CONTENT_TYPE;
}
