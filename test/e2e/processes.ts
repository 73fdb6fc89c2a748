/**
 * The e2e runs what a cluster would run in pods as local `bindery` processes: these helpers
 * start them with a given env, keep their output in a log file for when a test fails, find
 * free ports, and issue the webhook's certificate.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const repo = fileURLToPath(new URL('../../', import.meta.url));
const bindery = `${repo}bin/bindery`;

export interface LocalProcess {
  name: string;
  log: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
  stop(): Promise<void>;
  /** The last lines of its output, for failure messages. */
  tail(lines?: number): string;
}

export function startBindery(name: string, args: string[], env: Record<string, string>, logDir: string): LocalProcess {
  const log = `${logDir}/${name}.log`;
  const out = createWriteStream(log);
  const child = spawn(process.execPath, [bindery, ...args], {
    cwd: repo,
    // Only what a container would have, plus what node needs to run.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', BINDERY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    log,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      out.end();
    },
    tail(lines = 30) {
      try {
        return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no output)';
      }
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export { waitFor } from '../support/wait.ts';

/** A CA and a serving certificate for 127.0.0.1, as the API server needs to call a webhook by URL. */
export async function issueWebhookCertificate(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const openssl = (...args: string[]) => exec('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=bindery-e2e-webhook-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await openssl('req', ...ec, '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(`${dir}/serving.ext`, SERVING_EXTENSIONS);
  await openssl('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '1',
    '-extfile', 'serving.ext');
  return { caFile: `${dir}/ca.crt`, certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key` };
}

const SERVING_EXTENSIONS = [
  'subjectAltName=IP:127.0.0.1',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
].join('\n');

/** GET over https trusting only `ca`; resolves to the status code. */
export function httpsStatus(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { ca, timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}
