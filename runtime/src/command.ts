/**
 * `bindery runtime --config FILE`: the sidecar. Runs until SIGTERM or SIGINT, then shuts
 * down gracefully (see Sidecar.close) and exits 0.
 */
import { parseArgs } from 'node:util';
import { SIDECAR_ENV } from '../../sidecar-config/env.ts';

export const HELP = `Usage: bindery runtime --config FILE [options]

The Bindery sidecar: apps send and listen over HTTP, the sidecar talks to the broker.

Options:
  --config FILE      bindery.yaml, or a Spring Cloud Stream application.yml (required;
                     env BINDERY_CONFIG). Reloaded when it changes.
  --bindings a,b     use only these bindings of the file (env BINDERY_BINDINGS)
  --app-port N       push input messages to the app on this port (env BINDERY_APP_PORT;
                     overrides app.port)
  --port N           API port on 127.0.0.1 (default 7070, or http.port)
  --ops-port N       ops port on 0.0.0.0: /healthz /readyz /metrics (default 7071)
  --shutdown-timeout MS
                     after SIGTERM the process ends within this, whatever it is doing
                     (default 25000; env BINDERY_SHUTDOWN_TIMEOUT). Keep it below the
                     pod's terminationGracePeriodSeconds.
  --no-watch         do not reload the config file when it changes
  -h, --help         this text

Environment: BINDERY_INSTANCE_INDEX / BINDERY_INSTANCE_COUNT (partitioned inputs),
BINDERY_LOG_LEVEL (default info), OTEL_EXPORTER_OTLP_ENDPOINT (export spans over
OTLP/HTTP JSON; off when unset) with OTEL_SERVICE_NAME and the other OTEL_* exporter
variables, and any \${VAR} the config file refers to.`;

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        bindings: { type: 'string' },
        'app-port': { type: 'string' },
        port: { type: 'string' },
        'ops-port': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        'no-watch': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`bindery runtime: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const file = args.config ?? process.env[SIDECAR_ENV.config];
  if (!file) {
    console.error(`bindery runtime: --config FILE is required\n\n${HELP}`);
    return 2;
  }

  // Loaded only now, so that --help and usage errors answer at once.
  const { ConfigError, loadConfigFile, overridesFrom, parseConfig } = await import('./config/load.ts');
  let overrides;
  let config;
  let shutdownTimeout: number;
  try {
    overrides = overridesFrom(
      { bindings: args.bindings, appPort: args['app-port'], port: args.port, opsPort: args['ops-port'] },
      process.env,
    );
    shutdownTimeout = milliseconds(args['shutdown-timeout'] ?? process.env[SIDECAR_ENV.shutdownTimeout], DEFAULT_SHUTDOWN_TIMEOUT_MS, ConfigError);
    config = await loadConfigFile(file, { overrides });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`bindery runtime: ${error.message}`);
      return 1;
    }
    throw error;
  }

  const [{ default: pino }, { watchConfigFile }, { Metrics }, { startSidecar }, { safeError }, { armShutdownLimit }, { tracerFromEnv }] = await Promise.all([
    import('pino'),
    import('./config/watch.ts'),
    import('./metrics.ts'),
    import('./server.ts'),
    import('./redact.ts'),
    import('./shutdown.ts'),
    import('./tracing/otlp.ts'),
  ]);
  const logger = pino({ level: process.env[SIDECAR_ENV.logLevel] ?? 'info', base: { component: 'bindery-runtime' } });
  let running;
  const tracer = tracerFromEnv(process.env, logger);
  try {
    // The sidecar's own close is bounded a little inside the hard limit, so that answers
    // already being written still leave before it.
    const shutdownMs = shutdownTimeout - Math.min(3_000, shutdownTimeout / 4);
    running = await startSidecar({ config, logger, metrics: new Metrics({ processMetrics: true }), shutdownMs, tracer });
  } catch (error) {
    logger.error({ err: safeError(error) }, 'the sidecar could not start');
    return 1;
  }
  logger.info(
    {
      api: running.apiUrl,
      ops: running.opsUrl,
      bindings: Object.values(config.bindings).map((b) => `${b.name} (${b.direction} ${b.destination} on ${b.binder})`),
      binders: Object.values(config.binders).map((b) => `${b.name} (${b.type})`),
      push: config.app ? `127.0.0.1:${config.app.port}` : undefined,
    },
    'bindery runtime started',
  );

  const watcher = args['no-watch']
    ? undefined
    : watchConfigFile(
        file,
        async (text) => {
          const next = await parseConfig(text, file, { overrides });
          await running.sidecar.reload(next);
        },
        { onError: (error) => logger.error({ err: safeError(error) }, 'configuration change not applied; the previous configuration stays') },
      );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, limitMs: shutdownTimeout }, 'shutting down: refusing sends, finishing in-flight work');
      const limit = armShutdownLimit(shutdownTimeout, () => {
        logger.error({ limitMs: shutdownTimeout }, 'shutdown did not finish within --shutdown-timeout; exiting');
      });
      watcher?.close();
      const end = (code: number): void => {
        limit.disarm();
        resolve(code);
        // A broker that never answered may leave a socket open; there is nothing left to wait
        // for, so the process ends now rather than when that socket gives up.
        setImmediate(() => process.exit(code));
      };
      running
        .close()
        // The last spans, of the sends and pushes that shutdown let finish.
        .then(() => tracer.close())
        .then(() => {
          logger.info('stopped');
          end(0);
        })
        .catch((error: unknown) => {
          logger.error({ err: safeError(error) }, 'shutdown failed');
          end(1);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function milliseconds(value: string | undefined, fallback: number, ErrorType: new (message: string) => Error): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new ErrorType(`--shutdown-timeout (${SIDECAR_ENV.shutdownTimeout}): must be a number of milliseconds >= 1`);
  return Number(value);
}
