/** The operator's small HTTP endpoints: /healthz, /readyz and /metrics (on one port or two). */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  port: number;
  host?: string;
  /** Ready: the caches are synced (a standby replica is ready too: it serves the webhook). */
  ready: () => boolean;
  registry?: Registry;
  probes?: boolean;
}

export async function startProbeServer(options: ProbeServerOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain'): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (options.probes !== false && path === '/healthz') return reply(200, 'ok');
    if (options.probes !== false && path === '/readyz') return options.ready() ? reply(200, 'ok') : reply(503, 'caches not synced');
    if (options.registry && path === '/metrics') {
      void options.registry.metrics().then(
        (text) => reply(200, text, options.registry!.contentType),
        (error: unknown) => reply(500, String(error)),
      );
      return;
    }
    reply(404, 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
