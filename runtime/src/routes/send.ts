import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { SendRequest, Sidecar } from '../sidecar/sidecar.ts';
import { BULK_CONTENT_TYPE, bulkAnswer, parseBulk } from './bulk.ts';
import { ErrorBody } from './schemas.ts';
import { HTTP_PREFIX, eventFromRequest } from '../cloudevents/index.ts';
import { TRACEPARENT, traceContextOf, traceHeaders } from '../tracing/context.ts';

const MESSAGE_HEADER_PREFIX = 'x-msg-';
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

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
  // Without TypeBox's type provider: the answers leave serialized already (sendAnswer).
  void parent.register(async (app) => {
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
      // The answers are written by JSON.stringify (sendAnswer), their schemas kept for the
      // documentation: fast-json-stringify picks the branch of `partition`'s union (integer or
      // null) by running a validator on it, per answer and per bulk line, which cost more than
      // serializing the few fields that an answer is.
      async (request, reply) => {
        const { binding } = request.params as { binding: string };
        const body = Buffer.isBuffer(request.body) ? request.body : EMPTY_BODY;
        const answer = await sendAnswer(sidecar, binding, request.headers, body, request.messageContentType);
        return reply.status(answer.statusCode).header('content-type', JSON_CONTENT_TYPE).send(answer.body);
      },
    );
  });
}

const EMPTY_BODY = Buffer.alloc(0);

/** A send's answer, serialized: 202 for one message, 200 or 207 for a bulk request. */
export interface SendAnswer {
  statusCode: number;
  body: string;
}

/**
 * Sends what one request to `POST /v1/send/{binding}` carries and answers it, whichever path
 * the request came by (fastify's route, or the lean path of lean-send.ts); what it refuses it
 * throws, for the caller to answer as an API error. `contentType` is the sender's, as sent.
 */
export async function sendAnswer(sidecar: Sidecar, binding: string, headers: IncomingHttpHeaders, body: Buffer, contentType: string | undefined): Promise<SendAnswer> {
  if (contentType !== undefined && isBulk(contentType)) {
    const defaultContentType = sidecar.runtimeConfig.bindings[binding]?.contentType ?? 'application/json';
    const outcomes = await sidecar.sendBatch(binding, parseBulk(body, defaultContentType));
    const answer = bulkAnswer(outcomes);
    return { statusCode: answer.allSent ? 200 : 207, body: JSON.stringify({ results: answer.results }) };
  }
  const result = await sidecar.send(binding, singleMessage(headers, body, contentType));
  return { statusCode: 202, body: JSON.stringify(result) };
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
function singleMessage(raw: IncomingHttpHeaders, body: Buffer, contentType: string | undefined): SendRequest {
  const headers: Record<string, string> = {};
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

/** The test of the whole media type runs only on a content type that may be the bulk one: it makes strings. */
function isBulk(contentType: string): boolean {
  return MAYBE_BULK.test(contentType) && contentType.split(';', 1)[0]!.trim().toLowerCase() === BULK_CONTENT_TYPE;
}

const MAYBE_BULK = /ndjson/i;
