/**
 * What a fuzz case is sent to: one sidecar process on one binder, its bindings, and the ways
 * to reach it (a keep-alive pool for requests fetch could send, raw sockets for the rest).
 */
import { Pool } from 'undici';
import { rawRequest, type RawOptions } from '../support/raw-http.ts';
import type { Answer, Verdict } from './judge.ts';

export type BinderType = 'memory' | 'rabbit' | 'kafka';

/** The bindings every fuzzed sidecar has (see bindingsYaml). */
export const BINDINGS = {
  /** Outputs to the destination the `pulled` input drains. */
  outputs: ['out', 'text', 'keyed'],
  small: 'small',
  /** Size tests near the broker's own limit go here (nobody consumes it). */
  large: 'large',
  scratchOut: 'scratch-out',
  scratchIn: 'scratch-in',
  pulled: 'pulled',
  manual: 'manual',
  manualOut: 'manual-out',
} as const;

export const SMALL_LIMIT = 1024;
export const LARGE_LIMIT = 2 * 1024 * 1024;

/** The fuzzed sidecar's bindings, with destinations and groups unique to this run. */
export function bindingsYaml(prefix: string): string {
  return [
    'bindings:',
    `  out: { direction: output, destination: ${prefix} }`,
    `  text: { direction: output, destination: ${prefix}, contentType: text/plain }`,
    `  keyed: { direction: output, destination: ${prefix}, producer: { partitionCount: 3, partitionKeyExpression: payload.key } }`,
    `  small: { direction: output, destination: ${prefix}, maxMessageBytes: ${SMALL_LIMIT} }`,
    `  large: { direction: output, destination: ${prefix}-large, contentType: application/octet-stream, maxMessageBytes: ${LARGE_LIMIT} }`,
    `  scratch-out: { direction: output, destination: ${prefix}-scratch }`,
    `  scratch-in: { direction: input, destination: ${prefix}-scratch, group: ${prefix}-scratch }`,
    `  pulled: { direction: input, destination: ${prefix}, group: ${prefix}-pulled }`,
    `  manual: { direction: input, destination: ${prefix}-manual, group: ${prefix}-manual, consumer: { ackTimeout: 500, maxAttempts: 2 } }`,
    `  manual-out: { direction: output, destination: ${prefix}-manual }`,
  ].join('\n');
}

export interface FuzzTarget {
  binder: BinderType;
  api: string;
  ops: string;
  client: Pool;
  opsClient: Pool;
  /** How long an answer may take before the request counts as a hang. */
  hangMs: number;
  /** The API port's request timeout: a stalled body must get 408 within it. */
  requestTimeoutMs: number;
  /** The destination the `pulled` input drains, and the ids of every send to it that got 202. */
  drained: { destination: string; accepted: Set<string> };
}

export function connectTarget(binder: BinderType, api: string, ops: string, hangMs: number, requestTimeoutMs: number, destination: string): FuzzTarget {
  return {
    drained: { destination, accepted: new Set() },
    binder,
    api,
    ops,
    client: new Pool(api, { connections: 32, pipelining: 1 }),
    opsClient: new Pool(ops, { connections: 4, pipelining: 1 }),
    hangMs,
    requestTimeoutMs,
  };
}

export interface Request {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** A well-formed request; a hang when no answer comes within `target.hangMs`. */
export async function send(target: FuzzTarget, request: Request, on: 'api' | 'ops' = 'api'): Promise<Answer | Verdict> {
  const pool = on === 'api' ? target.client : target.opsClient;
  try {
    const response = await pool.request({
      method: request.method as 'GET',
      path: request.path,
      headers: request.headers,
      body: request.body,
      headersTimeout: target.hangMs,
      bodyTimeout: target.hangMs,
    });
    const body = await response.body.text();
    const contentType = response.headers['content-type'];
    accepted(target, response.statusCode, body);
    return { status: response.statusCode, contentType: Array.isArray(contentType) ? contentType[0] : contentType, body };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { ok: false, failure: 'hang', detail: `no answer within ${target.hangMs} ms` };
    return { ok: false, failure: 'off-contract', detail: `the connection failed: ${code ?? (error as Error).message}` };
  }
}

/** Bytes over a socket of their own; a hang when neither an answer nor a close comes in time. */
export async function sendRaw(target: FuzzTarget, bytes: string | Buffer, options: RawOptions = {}, on: 'api' | 'ops' = 'api'): Promise<Answer | Verdict> {
  const timeoutMs = options.timeoutMs ?? target.hangMs;
  const response = await rawRequest(on === 'api' ? target.api : target.ops, bytes, { ...options, timeoutMs });
  if (response.status === 0 && !response.closed) return { ok: false, failure: 'hang', detail: `no answer within ${timeoutMs} ms` };
  if (response.status === 0) return { ok: false, failure: 'off-contract', detail: 'the connection closed without an answer' };
  accepted(target, response.status, response.body);
  return { status: response.status, contentType: response.headers['content-type'], body: response.body };
}

/** Notes a 202 to the drained destination: that message must reach the `pulled` input. */
function accepted(target: FuzzTarget, status: number, body: string): void {
  if (status !== 202) return;
  try {
    const { id, destination } = JSON.parse(body) as { id?: unknown; destination?: unknown };
    if (destination === target.drained.destination && typeof id === 'string') target.drained.accepted.add(id);
  } catch {
    // Not JSON: the judge reports it.
  }
}

export function isVerdict(value: Answer | Verdict): value is Verdict {
  return 'ok' in value;
}

export async function closeTarget(target: FuzzTarget): Promise<void> {
  await Promise.allSettled([target.client.close(), target.opsClient.close()]);
}
