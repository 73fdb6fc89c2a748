/**
 * The sidecar over real HTTP on loopback (buildApp) with the rabbit binder, and the
 * application behind it, for the rabbit tests that go through HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../../runtime/src/app.ts';
import type { BindingConfig, RuntimeConfig } from '../../../runtime/src/config/model.ts';
import { testEnv } from '../../support/env.ts';

export interface Closable {
  close(): Promise<void>;
}

/** The application behind the sidecar: records each pushed message's id and answers `status()`. */
export async function pushTarget(status: () => number): Promise<Closable & { port: number; ids: string[] }> {
  const ids: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      ids.push((JSON.parse(Buffer.concat(chunks).toString()) as { id: string }).id);
      response.writeHead(status()).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    ids,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A sidecar with one rabbit binder and `bindings`, pushing to the app on `appPort` (else pulled over SSE). */
export async function rabbitSidecar(bindings: BindingConfig[], appPort?: number): Promise<Closable & { base: string }> {
  const config: RuntimeConfig = {
    binders: { rabbit: { name: 'rabbit', type: 'rabbit', rabbit: { url: testEnv().rabbitUrl } } },
    defaultBinder: 'rabbit',
    bindings: Object.fromEntries(bindings.map((b) => [b.name, b])),
    ...(appPort !== undefined && { app: { port: appPort, host: '127.0.0.1' } }),
    http: { host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0 },
    warnings: [],
  };
  const app = buildApp({ config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

/** `POST /v1/send/output` with a JSON body carrying `id`, which is also the message id. */
export function sendJson(base: string, id: string): Promise<Response> {
  return fetch(`${base}/v1/send/output`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-msg-id': id },
    body: JSON.stringify({ id }),
  });
}
