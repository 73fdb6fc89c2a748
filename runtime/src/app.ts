/**
 * The sidecar's two HTTP faces (SPEC section 5): the API (`buildApp`, on 127.0.0.1:7070)
 * and the ops endpoints (`buildOpsApp`, on 0.0.0.0:7071). Neither listens by itself: callers
 * (the `runtime` command, the demo, tests) decide where, and tests can use `inject`.
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import pino, { type Logger } from 'pino';
import { InvalidRequestError, RETRY_AFTER_SECONDS, RouteNotFoundError, toApiError, type ApiError } from './routes/errors.ts';
import { registerBindingRoutes } from './routes/bindings.ts';
import { registerListenRoutes } from './routes/listen.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { registerSendRoute } from './routes/send.ts';
import { Sidecar, type SidecarOptions } from './sidecar/sidecar.ts';

/** What the sidecar is built from; see SidecarOptions for the meaning of each. */
export interface AppDeps extends Omit<SidecarOptions, 'logger'> {
  logger?: Logger;
}

export type SidecarApp = FastifyInstance & { readonly sidecar: Sidecar };

/** How long closing waits for answers already being written. */
const CLOSE_DRAIN_MS = 10_000;

/** Bodies above this are refused while being read, whatever a binding allows. */
const HARD_BODY_LIMIT = 64 * 1024 * 1024;

export function buildApp(deps: AppDeps): SidecarApp {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const sidecar = new Sidecar({ ...deps, logger });
  const largest = Math.max(0, ...Object.values(deps.config.bindings).map((b) => b.maxMessageBytes));
  const app = Fastify({
    loggerInstance: logger,
    logController: quietRequests(),
    // While closing, requests still reach the routes, which refuse sends with the API's own
    // 503 (code and Retry-After) rather than fastify's bare one.
    return503OnClosing: false,
    // Sized by the largest binding's limit; each binding's own limit is checked per send.
    bodyLimit: Math.min(HARD_BODY_LIMIT, Math.max(largest, 1024 * 1024)),
  }) as unknown as FastifyInstance;
  app.decorate('sidecar', sidecar);
  // A pino child per request (fastify's default) showed on the send path's profile; requests
  // log nothing but failures, which name their URL, so they share the sidecar's logger.
  app.setChildLoggerFactory((parentLogger) => parentLogger);
  installErrorHandling(app);
  installJsonParser(app);

  registerSendRoute(app, sidecar);
  registerListenRoutes(app, sidecar);
  registerBindingRoutes(app, sidecar);

  app.addHook('onReady', async () => {
    await sidecar.start();
  });
  const requests = trackRequests(app);
  // The graceful part of closing (refuse sends, finish in-flight ones, give back unsettled
  // messages, end SSE streams) comes first; then every answer is let out; only then are
  // connections cut, including the keep-alive sockets a client opened and never used, which
  // the server would otherwise wait for until they time out.
  app.addHook('preClose', async () => {
    await sidecar.close();
    await requests.drained(CLOSE_DRAIN_MS);
    app.server.closeAllConnections();
  });
  return app as unknown as SidecarApp;
}

export function buildOpsApp(deps: { sidecar: Sidecar; logger?: Logger }): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger ?? pino({ level: 'silent' }),
    logController: quietRequests(),
    // Probes and scrapes hold nothing worth waiting for when the sidecar stops.
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  installErrorHandling(app);
  registerOpsRoutes(app, deps.sidecar);
  return app;
}

/** Counts requests whose response is not finished (SSE streams included, until they end). */
function trackRequests(app: FastifyInstance): { drained(timeoutMs: number): Promise<void> } {
  let active = 0;
  let waiter: (() => void) | undefined;
  app.addHook('onRequest', async (_request, reply) => {
    active++;
    reply.raw.once('close', () => {
      active--;
      if (active === 0) waiter?.();
    });
  });
  return {
    drained(timeoutMs) {
      if (active === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}

/** One log line per request would cost more than the send itself; errors are logged where they occur. */
function quietRequests(): LogController {
  return new LogController({ disableRequestLogging: true });
}

/** Every error leaves as SPEC section 5's JSON body with a stable BINDERY_ERR_* code (routes/errors.ts). */
function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error, request.routeOptions.bodyLimit);
    if (apiError.statusCode >= 500 && apiError.statusCode !== 503 && apiError.statusCode !== 504) {
      request.log.error({ err: error, url: request.url }, 'request failed');
    }
    return sendError(reply, apiError);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, toApiError(new RouteNotFoundError(request.method, request.url.split('?')[0] ?? request.url), undefined)));
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.statusCode === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  return reply.status(error.statusCode).send({
    statusCode: error.statusCode,
    code: error.code,
    error: STATUS_CODES[error.statusCode] ?? 'Error',
    message: error.message,
  });
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
