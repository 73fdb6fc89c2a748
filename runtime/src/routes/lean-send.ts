/**
 * `POST /v1/send/{binding}` served ahead of fastify's router (docs/adr/0056): on the send
 * path's profile, fastify's per-request work (its request and reply objects, the route's
 * hooks, the content type parser, the body reader, the reply's header handling) cost more CPU
 * and allocation than everything Bindery itself does for a message.
 *
 * Only plain requests take this path: a binding name of URL-safe characters and no query, and
 * a body of a declared length within the sidecar's limit. Anything else (a chunked body, a
 * body over the limit, an escaped or over-long name, another method) goes on to fastify,
 * which answers it as before, with no byte of the body read here. A request taken here is
 * sent by the route's own sendAnswer and refused with the same API errors, logged by the same
 * rule; it counts for shutdown from its last body byte on, as the route's requests do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_PATH_SEGMENT } from './errors.ts';
import { JSON_CONTENT_TYPE, sendAnswer } from './send.ts';
import type { Sidecar } from '../sidecar/sidecar.ts';

const SEND_PREFIX = '/v1/send/';
const PLAIN_SEND_URL = new RegExp(`^/v1/send/[A-Za-z0-9._-]{1,${MAX_PATH_SEGMENT}}$`);
const EMPTY_BODY = Buffer.alloc(0);

export interface LeanSendOptions {
  sidecar: Sidecar;
  /** What fastify reads at most; longer bodies are fastify's to refuse (413, while they arrive). */
  bodyLimit: number;
  /** Counts a request from its last body byte until its answer is out (app.ts). */
  handling(response: ServerResponse): void;
  /** Once the server closes, answers ask the client to close the connection, as fastify's do. */
  closing(): boolean;
  /** A refusal as the API's error answer (app.ts), logged by the API's rule. */
  refusal(request: IncomingMessage, error: Error): { statusCode: number; body: string; retryAfterSeconds?: number };
}

/** The server's request listener in front of fastify's: true when it took the request. */
export function leanSendPath(options: LeanSendOptions): (request: IncomingMessage, response: ServerResponse) => boolean {
  const { sidecar, bodyLimit } = options;

  const write = (response: ServerResponse, statusCode: number, text: string, retryAfterSeconds?: number): void => {
    const headers = ['content-type', JSON_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(text))];
    if (retryAfterSeconds !== undefined) headers.push('retry-after', String(retryAfterSeconds));
    if (options.closing()) headers.push('connection', 'close');
    response.writeHead(statusCode, headers).end(text);
  };

  const answer = (request: IncomingMessage, response: ServerResponse, body: Buffer): void => {
    options.handling(response);
    const binding = request.url!.slice(SEND_PREFIX.length);
    const contentType = request.headers['content-type'];
    sendAnswer(sidecar, binding, request.headers, body, contentType === '' ? undefined : contentType).then(
      ({ statusCode, body: text }) => write(response, statusCode, text),
      (error: Error) => {
        const refused = options.refusal(request, error);
        write(response, refused.statusCode, refused.body, refused.retryAfterSeconds);
      },
    );
  };

  return (request, response) => {
    if (request.method !== 'POST' || !request.url!.startsWith(SEND_PREFIX) || !PLAIN_SEND_URL.test(request.url!)) return false;
    const { headers } = request;
    const declared = headers['content-length'];
    if (declared === undefined || headers['transfer-encoding'] !== undefined) return false;
    const length = Number(declared);
    if (!(length <= bodyLimit)) return false;
    if (length === 0) {
      // Nothing to wait for but the request's end, which an empty body has already had.
      request.resume();
      answer(request, response, EMPTY_BODY);
      return true;
    }
    // The body usually arrives as one chunk, which becomes the message as it is.
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    request.on('data', (chunk: Buffer) => {
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    request.on('end', () => answer(request, response, more !== undefined ? Buffer.concat(more) : first ?? EMPTY_BODY));
    return true;
  };
}
