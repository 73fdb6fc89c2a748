/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
 * headers a send brings travel as message headers of the same names, which is also where
 * Spring's Micrometer tracing reads and writes them with W3C propagation, and come back to the
 * app on push and SSE under those names.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
  state?: string;
}

const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
/** The spec caps tracestate at 32 members; a longer one is not forwarded (section 3.3.1.1). */
const MAX_TRACESTATE_LENGTH = 512;

/**
 * The trace context in a traceparent value, or undefined for one the spec says to ignore:
 * malformed, version ff, an all-zero trace or span id, or extra fields on version 00.
 */
export function parseTraceparent(value: string | undefined, state?: string): TraceContext | undefined {
  const match = value === undefined ? null : TRACEPARENT_FORMAT.exec(value.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, extra] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && extra !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const usableState = state !== undefined && state.length > 0 && state.length <= MAX_TRACESTATE_LENGTH ? state : undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, ...(usableState !== undefined && { state: usableState }) };
}

export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.sampled ? '01' : '00'}`;
}

/** The trace context of a set of headers (HTTP request or message); header names are lower-case in both. */
export function traceContextOf(headers: IncomingHttpHeaders | Record<string, string>): TraceContext | undefined {
  const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(',') : value);
  return parseTraceparent(single(headers[TRACEPARENT]), single(headers[TRACESTATE]));
}

/** The headers that carry a trace context. */
export function traceHeaders(context: TraceContext | undefined): Record<string, string> {
  if (context === undefined) return {};
  return { [TRACEPARENT]: formatTraceparent(context), ...(context.state !== undefined && { [TRACESTATE]: context.state }) };
}

/** `headers` with `context` in place of whatever trace context they had. */
export function withTraceContext(headers: Record<string, string>, context: TraceContext | undefined): Record<string, string> {
  const { [TRACEPARENT]: _parent, [TRACESTATE]: _state, ...rest } = headers;
  return { ...rest, ...traceHeaders(context) };
}

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}
