/**
 * The sidecar's two HTTP faces (SPEC section 5): the API (`buildApp`, on 127.0.0.1:7070)
 * and the ops endpoints (`buildOpsApp`, on 0.0.0.0:7071). Neither listens by itself: callers
 * (the `runtime` command, the demo, tests) decide where, and tests can use `inject`.
 *
 * Every answer either port gives is SPEC section 5's JSON error or a route's own, including
 * what the HTTP parser and the router refuse before any route runs (malformed requests,
 * oversized headers, slow clients, undecodable URLs).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import pino, { type Logger } from 'pino';
import {
  ExpectationFailedError,
  InvalidRequestError,
  MAX_PATH_SEGMENT,
  RETRY_AFTER_SECONDS,
  RouteNotFoundError,
  clientErrorOf,
  createServer,
  errorBody,
  toApiError,
  type ApiError,
} from './routes/errors.ts';
import { registerBindingRoutes } from './routes/bindings.ts';
import { opsSchemaCompilers, schemaCompilers } from './routes/compilers.ts';
import { registerListenRoutes } from './routes/listen.ts';
import { registerOpenApi, registerOpenApiRoute } from './routes/openapi.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { leanSendPath } from './routes/lean-send.ts';
import { registerSendRoute } from './routes/send.ts';
import { Sidecar, type SidecarOptions } from './sidecar/sidecar.ts';

/**
 * How long each port waits for a client. The API port serves the app beside it on loopback;
 * the ops port listens on every interface and only ever answers small GETs, so it is strict.
 */
export const HTTP_TIMEOUTS: Readonly<{
  apiHeadersTimeoutMs: number;
  apiRequestTimeoutMs: number;
  apiKeepAliveTimeoutMs: number;
  opsHeadersTimeoutMs: number;
  opsRequestTimeoutMs: number;
  opsKeepAliveTimeoutMs: number;
}> = Object.freeze({
  /** API: the request's headers must arrive within this. */
  apiHeadersTimeoutMs: 10_000,
  /** API: headers and body, all of it (a 64 MiB body needs ~2 MB/s). */
  apiRequestTimeoutMs: 30_000,
  /** API: an idle keep-alive connection is closed after this. */
  apiKeepAliveTimeoutMs: 72_000,
  opsHeadersTimeoutMs: 5_000,
  opsRequestTimeoutMs: 5_000,
  opsKeepAliveTimeoutMs: 5_000,
});

export type HttpTimeouts = typeof HTTP_TIMEOUTS;

/** Connections the ops port holds at once; probes and scrapes need a handful. */
const OPS_MAX_CONNECTIONS = 128;
/** Request headers the ops port reads at most. */
const OPS_MAX_HEADER_BYTES = 8 * 1024;
/** How often Node looks for requests past their timeouts (its default, 30 s, would blur them). */
const TIMEOUT_CHECK_MS = 500;

/** What the sidecar is built from; see SidecarOptions for the meaning of each. */
export interface AppDeps extends Omit<SidecarOptions, 'logger'> {
  logger?: Logger;
  /** Overrides of HTTP_TIMEOUTS (tests use short ones). */
  timeouts?: Partial<HttpTimeouts>;
}

export type SidecarApp = FastifyInstance & { readonly sidecar: Sidecar };

/** How long closing waits for answers already being written (to clients on loopback). */
const CLOSE_DRAIN_MS = 2_000;

/** How long a client may go on writing a body refused while it arrived, after the answer. */
export const REFUSED_BODY_LINGER_MS = 2_000;

/** Bodies above this are refused while being read, whatever a binding allows. */
const HARD_BODY_LIMIT = 64 * 1024 * 1024;

export function buildApp(deps: AppDeps): SidecarApp {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const timeouts = { ...HTTP_TIMEOUTS, ...deps.timeouts };
  const sidecar = new Sidecar({ ...deps, logger });
  const largest = Math.max(0, ...Object.values(deps.config.bindings).map((b) => b.maxMessageBytes));
  // Sized by the largest binding's limit; each binding's own limit is checked per send.
  const bodyLimit = Math.min(HARD_BODY_LIMIT, Math.max(largest, 1024 * 1024));
  const requests = new RequestCount();
  let closing = false;
  // Sends take the lean path ahead of fastify's router (docs/adr/0056); what it leaves goes on to fastify.
  const leanSend = leanSendPath({
    sidecar,
    bodyLimit,
    handling: (response) => requests.handling(response),
    closing: () => closing,
    refusal: (request, error) => {
      const apiError = answerOf(error, bodyLimit, logger, request.url);
      return {
        statusCode: apiError.statusCode,
        body: JSON.stringify(errorBody(apiError)),
        ...(apiError.statusCode === 503 && { retryAfterSeconds: RETRY_AFTER_SECONDS }),
      };
    },
  });
  const app = Fastify({
    ...serverOptions(timeouts.apiHeadersTimeoutMs, timeouts.apiRequestTimeoutMs, timeouts.apiKeepAliveTimeoutMs),
    serverFactory: (fastifyHandler) => httpServer(timeouts.apiHeadersTimeoutMs, timeouts.apiRequestTimeoutMs, timeouts.apiKeepAliveTimeoutMs, (request, response) => {
      if (!leanSend(request, response)) fastifyHandler(request, response);
    }),
    schemaController: { compilersFactory: schemaCompilers },
    loggerInstance: logger,
    logController: quietRequests(),
    // While closing, requests still reach the routes, which refuse sends with the API's own
    // 503 (code and Retry-After) rather than fastify's bare one.
    return503OnClosing: false,
    bodyLimit,
  }) as unknown as FastifyInstance;
  app.decorate('sidecar', sidecar);
  // A pino child per request (fastify's default) showed on the send path's profile; requests
  // log nothing but failures, which name their URL, so they share the sidecar's logger.
  app.setChildLoggerFactory((parentLogger) => parentLogger);
  installErrorHandling(app);
  installJsonParser(app);

  registerOpenApi(app);
  // In a plugin, so that they are added once the OpenAPI plugin listens for routes.
  void app.register(async (routes) => {
    registerSendRoute(routes, sidecar);
    registerListenRoutes(routes, sidecar);
    registerBindingRoutes(routes, sidecar);
    registerOpenApiRoute(routes);
  });

  app.addHook('onReady', async () => {
    await sidecar.start();
  });
  // Counted once a route handles the request: one whose body is still arriving holds nothing
  // that shutdown should wait for.
  app.addHook('preHandler', (_request, reply, done) => {
    requests.handling(reply.raw);
    done();
  });
  // The graceful part of closing (refuse sends, finish in-flight ones, give back unsettled
  // messages, end SSE streams) comes first; then every answer is let out; only then are
  // connections cut: keep-alive sockets a client opened and never used, and requests whose
  // body is still arriving (a send that would be refused anyway).
  app.addHook('preClose', async () => {
    // fastify's own routes see the same from here on (it marks itself closing just before).
    closing = true;
    await sidecar.close();
    await requests.drained(CLOSE_DRAIN_MS);
    app.server.closeAllConnections();
  });
  return app as unknown as SidecarApp;
}

export function buildOpsApp(deps: { sidecar: Sidecar; logger?: Logger; timeouts?: Partial<HttpTimeouts> }): FastifyInstance {
  const timeouts = { ...HTTP_TIMEOUTS, ...deps.timeouts };
  const app = Fastify({
    ...serverOptions(timeouts.opsHeadersTimeoutMs, timeouts.opsRequestTimeoutMs, timeouts.opsKeepAliveTimeoutMs, OPS_MAX_HEADER_BYTES),
    schemaController: { compilersFactory: opsSchemaCompilers },
    loggerInstance: deps.logger ?? pino({ level: 'silent' }),
    logController: quietRequests(),
    bodyLimit: 1024,
    // Probes and scrapes hold nothing worth waiting for when the sidecar stops.
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  app.server.maxConnections = OPS_MAX_CONNECTIONS;
  installErrorHandling(app);
  registerOpsRoutes(app, deps.sidecar);
  return app;
}

/** The options both ports share: timeouts, and every refusal of the parser or router in the API's shape. */
function serverOptions(headersTimeout: number, requestTimeout: number, keepAliveTimeout: number, maxHeaderSize?: number) {
  return {
    requestTimeout,
    keepAliveTimeout,
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval: TIMEOUT_CHECK_MS, ...(maxHeaderSize !== undefined && { maxHeaderSize }) },
    // Closing is bounded by the sidecar's shutdown limit (Sidecar.close, the runtime command),
    // not by fastify's plugin timeout, which would abandon it halfway.
    pluginTimeout: 0,
    // Long enough for any message id (255 bytes, %-escaped) in /v1/ack/{binding}/{id}.
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    frameworkErrors: (error: FastifyError, _request: unknown, reply: FastifyReply) => sendError(reply, toApiError(error, undefined)),
    clientErrorHandler: answerClientError,
  };
}

/**
 * Node's `clientError`: the parser refused the request (not HTTP, headers too large, too
 * slow). The answer is written to the socket directly, since no request exists to reply to.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  const apiError = clientErrorOf(error);
  if (apiError !== undefined && socket.writable && !socket.destroyed) {
    const body = JSON.stringify(errorBody(apiError));
    socket.write(
      `HTTP/1.1 ${apiError.statusCode} ${errorBody(apiError).error}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Counts requests a route is handling (SSE streams included, until they end). */
class RequestCount {
  private active = 0;
  private waiter: (() => void) | undefined;
  private readonly ended = (): void => {
    this.active--;
    if (this.active === 0) this.waiter?.();
  };

  handling(response: ServerResponse): void {
    this.active++;
    response.once('close', this.ended);
  }

  drained(timeoutMs: number): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * The API's server, as fastify would make it from serverOptions, with `handle` in front of
 * fastify's own handler.
 */
function httpServer(headersTimeout: number, requestTimeout: number, keepAliveTimeout: number, handle: (request: IncomingMessage, response: ServerResponse) => void): Server {
  const server = createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval: TIMEOUT_CHECK_MS }, handle);
  server.keepAliveTimeout = keepAliveTimeout;
  return server;
}

/** One log line per request would cost more than the send itself; errors are logged where they occur. */
function quietRequests(): LogController {
  return new LogController({ disableRequestLogging: true });
}

/** Every error leaves as SPEC section 5's JSON body with a stable BINDERY_ERR_* code (routes/errors.ts). */
function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = answerOf(error, request.routeOptions.bodyLimit, request.log, request.url);
    if (!request.raw.complete) lingerAfterAnswer(request.raw);
    return sendError(reply, apiError);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, toApiError(new RouteNotFoundError(request.method, request.url.split('?')[0] ?? request.url), undefined)));
  // Node answers an `Expect` it does not know with an empty 417 of its own.
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify(errorBody(toApiError(new ExpectationFailedError(`Expect: ${String(request.headers.expect).slice(0, 64)} is not supported`), undefined)));
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });
}

/** The API error a route's failure answers; one that is the sidecar's own fault is logged. */
function answerOf(error: Error, bodyLimit: number | undefined, log: Pick<Logger, 'error'>, url: string | undefined): ApiError {
  const apiError = toApiError(error, bodyLimit);
  if (apiError.statusCode >= 500 && apiError.statusCode !== 503 && apiError.statusCode !== 504) {
    log.error({ err: error, url }, 'request failed');
  }
  return apiError;
}

/**
 * An answer given while the request's body is still arriving (a body over the limit) closes
 * the connection: the rest of the body could not be told from a next request. Node closes
 * such a socket as soon as the answer is written (`destroySoon`), and closing with unread
 * bytes makes TCP reset the connection, so a client still writing its body got EPIPE or
 * ECONNRESET, often before it read the answer. Instead the socket half-closes after the
 * answer and drops the rest of the body, until the client ends or REFUSED_BODY_LINGER_MS
 * passed; the request timeout still holds, so a client cannot keep the connection longer.
 */
function lingerAfterAnswer(request: IncomingMessage): void {
  const socket = request.socket;
  if (socket.destroyed) return;
  request.resume();
  socket.destroySoon = function linger(this: Socket): void {
    const cut = setTimeout(() => this.destroy(), REFUSED_BODY_LINGER_MS);
    cut.unref();
    this.once('close', () => clearTimeout(cut));
    this.once('end', () => this.destroy());
    this.end();
  };
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.statusCode === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  return reply.status(error.statusCode).send(errorBody(error));
}

/** JSON bodies of the control routes; an empty body reads as "no options". */
function installJsonParser(app: FastifyInstance): void {
  // Control routes take JSON only; the send route has its own parser for any content type.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new InvalidRequestError(`the body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });
}
