/**
 * `bindery demo provider|consumer`: the seed scenario's apps on their own, for pods whose
 * sidecar the webhook injected (k8s/). Unlike `bindery demo`, they start no sidecar: they
 * reach the one beside them over plain HTTP, as any app in any language would.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { readBody } from './apps.ts';

export const HELP = `Usage: bindery demo provider [--port 8801] [--binding output] [--sidecar URL]
       bindery demo consumer [--port 8802]

provider: GET /sendMessage sends a fresh UUID through the sidecar's binding and answers with it.
consumer: takes the sidecar's pushes (POST on any path) and prints them; GET /received lists
          the ids received so far.
Both answer GET /healthz. --sidecar defaults to env BINDERY_URL, else http://127.0.0.1:7070.`;

export async function main(argv: string[]): Promise<number> {
  const [app, ...rest] = argv;
  let args;
  try {
    args = parseArgs({
      args: rest,
      options: {
        port: { type: 'string' },
        host: { type: 'string', default: '0.0.0.0' },
        binding: { type: 'string', default: 'output' },
        sidecar: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`bindery demo ${app}: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const port = Number(args.port ?? (app === 'provider' ? 8801 : 8802));
  const sidecar = (args.sidecar ?? process.env.BINDERY_URL ?? 'http://127.0.0.1:7070').replace(/\/$/, '');
  const received: string[] = [];

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method === 'GET' && path === '/healthz') return reply(response, 200, { status: 'ok' });
    if (app === 'provider' && request.method === 'GET' && path === '/sendMessage') {
      const id = randomUUID();
      const answer = await fetch(`${sidecar}/v1/send/${encodeURIComponent(args.binding)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-msg-id': id },
        body: JSON.stringify(id),
      });
      if (answer.status !== 202) return reply(response, 502, { message: `the sidecar answered ${answer.status}: ${await answer.text()}` });
      console.log(`[provider :${port}] sent ${id}`);
      response.writeHead(200, { 'content-type': 'text/plain' }).end(id);
      return;
    }
    if (app === 'consumer' && request.method === 'GET' && path === '/received') return reply(response, 200, { received });
    if (app === 'consumer' && request.method === 'POST') {
      const payload = JSON.parse(await readBody(request)) as unknown;
      received.push(String(payload));
      console.log(`[consumer :${port}] received ${JSON.stringify(payload)} (attempt ${request.headers['x-bindery-delivery-attempt'] ?? 1})`);
      response.writeHead(200).end();
      return;
    }
    reply(response, 404, { message: `no route ${request.method} ${path}` });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: Error) => reply(response, 500, { message: error.message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, args.host, () => resolve());
  });
  console.log(app === 'provider' ? `provider :${port}  GET /sendMessage -> ${sidecar} binding ${args.binding}` : `consumer :${port}  POST <any path> <- sidecar pushes`);
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      // In a pod, this line before the sidecar's own shows that the app stopped first.
      console.log(`${app} :${port} stopping (${signal})`);
      server.close(() => resolve(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
