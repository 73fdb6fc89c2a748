/**
 * A sidecar on real ports: the API app, the ops app and (optionally) the config watcher,
 * started and stopped together. Used by `bindery runtime` and by the demo.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp, buildOpsApp, type AppDeps, type SidecarApp } from './app.ts';
import type { Sidecar } from './sidecar/sidecar.ts';

export interface RunningSidecar {
  sidecar: Sidecar;
  api: SidecarApp;
  ops: FastifyInstance;
  /** e.g. http://127.0.0.1:7070 */
  apiUrl: string;
  opsUrl: string;
  /** Graceful stop: see Sidecar.close. */
  close(): Promise<void>;
}

export async function startSidecar(deps: AppDeps & { logger: Logger }): Promise<RunningSidecar> {
  const api = buildApp(deps);
  const ops = buildOpsApp({ sidecar: api.sidecar, logger: deps.logger, ...(deps.timeouts && { timeouts: deps.timeouts }) });
  const { http } = deps.config;
  try {
    await api.listen({ host: http.host, port: http.port });
    await ops.listen({ host: http.opsHost, port: http.opsPort });
  } catch (error) {
    await Promise.allSettled([api.close(), ops.close()]);
    throw error;
  }
  const apiUrl = urlOf(api, http.host);
  const opsUrl = urlOf(ops, http.opsHost === '0.0.0.0' ? '127.0.0.1' : http.opsHost);
  let closing: Promise<void> | undefined;
  return {
    sidecar: api.sidecar,
    api,
    ops,
    apiUrl,
    opsUrl,
    close() {
      // Ops stays up while the API drains, so probes keep answering during shutdown.
      closing ??= api.close().then(() => ops.close());
      return closing;
    },
  };
}

function urlOf(app: FastifyInstance, host: string): string {
  const { port } = app.server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
