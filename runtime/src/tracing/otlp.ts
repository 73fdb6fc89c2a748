/**
 * Export of the sidecar's spans over OTLP/HTTP with the JSON encoding, configured by
 * OpenTelemetry's standard environment variables: no endpoint, no tracing. Spans are batched
 * and sent off the request path; a receiver that is down or slow costs dropped spans (counted
 * in the log), never a send.
 */
import type { Logger } from 'pino';
import { recordingTracer, noTracer, type AttributeValue, type Attributes, type SpanData, type Tracer } from './tracer.ts';

export interface OtlpOptions {
  /** Full URL of the traces endpoint (…/v1/traces). */
  url: string;
  headers: Record<string, string>;
  resource: Attributes;
  /** Export every this many ms (OTEL_BSP_SCHEDULE_DELAY). */
  delayMs: number;
  /** Spans held at most; more are dropped (OTEL_BSP_MAX_QUEUE_SIZE). */
  maxQueue: number;
  timeoutMs: number;
}

const SCOPE = { name: 'bindery-sidecar' };

/** The tracer the environment asks for: OTLP when OTEL_EXPORTER_OTLP(_TRACES)_ENDPOINT is set, else none. */
export function tracerFromEnv(env: NodeJS.ProcessEnv, logger: Logger): Tracer {
  const options = otlpOptionsFromEnv(env);
  if (options === undefined) return noTracer;
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol !== undefined && protocol !== 'http/json') {
    logger.warn({ protocol }, 'OTLP protocol %s is not supported: the sidecar exports spans as http/json', protocol);
  }
  logger.info({ url: options.url }, 'exporting spans over OTLP');
  return otlpTracer(options, logger);
}

export function otlpOptionsFromEnv(env: NodeJS.ProcessEnv): OtlpOptions | undefined {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url = traces || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  const resource: Attributes = { ...keyValues(env.OTEL_RESOURCE_ATTRIBUTES), 'service.name': env.OTEL_SERVICE_NAME || 'bindery-sidecar' };
  return {
    url,
    headers: { ...keyValues(env.OTEL_EXPORTER_OTLP_HEADERS), ...keyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    resource,
    delayMs: positive(env.OTEL_BSP_SCHEDULE_DELAY, 5_000),
    maxQueue: positive(env.OTEL_BSP_MAX_QUEUE_SIZE, 2_048),
    timeoutMs: positive(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT, 10_000),
  };
}

export function otlpTracer(options: OtlpOptions, logger: Logger): Tracer {
  let queue: SpanData[] = [];
  let dropped = 0;
  let exporting: Promise<void> = Promise.resolve();
  const exportQueued = (): Promise<void> => {
    exporting = exporting.then(async () => {
      const batch = queue;
      queue = [];
      if (batch.length === 0) return;
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: { ...options.headers, 'content-type': 'application/json' },
          body: JSON.stringify(otlpRequest(batch, options.resource)),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        await response.arrayBuffer();
        if (!response.ok) logger.warn({ status: response.status, spans: batch.length }, 'the OTLP receiver refused spans');
      } catch (error) {
        logger.warn({ err: { message: (error as Error).message }, spans: batch.length }, 'spans could not be exported');
      }
      if (dropped > 0) {
        logger.warn({ dropped }, 'spans dropped: the export queue was full');
        dropped = 0;
      }
    });
    return exporting;
  };
  const timer = setInterval(() => void exportQueued(), options.delayMs);
  timer.unref();
  return recordingTracer(
    (span) => {
      if (queue.length >= options.maxQueue) dropped++;
      else queue.push(span);
    },
    exportQueued,
    async () => {
      clearInterval(timer);
      await exportQueued();
    },
  );
}

/** An ExportTraceServiceRequest in OTLP's JSON mapping (ids in hex, 64-bit integers as strings). */
export function otlpRequest(spans: SpanData[], resource: Attributes): unknown {
  return {
    resourceSpans: [{
      resource: { attributes: keyValueList(resource) },
      scopeSpans: [{
        scope: SCOPE,
        spans: spans.map((span) => ({
          traceId: span.context.traceId,
          spanId: span.context.spanId,
          ...(span.parentSpanId !== undefined && { parentSpanId: span.parentSpanId }),
          ...(span.context.state !== undefined && { traceState: span.context.state }),
          name: span.name,
          kind: span.kind,
          startTimeUnixNano: String(span.startNanos),
          endTimeUnixNano: String(span.endNanos),
          attributes: keyValueList(span.error === undefined ? span.attributes : { ...span.attributes, 'error.type': span.error }),
          // STATUS_CODE_ERROR (2) on failure; otherwise unset, as the conventions ask of instrumentation.
          status: span.error === undefined ? {} : { code: 2, message: span.error },
        })),
      }],
    }],
  };
}

function keyValueList(attributes: Attributes): Array<{ key: string; value: Record<string, unknown> }> {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
}

function anyValue(value: AttributeValue): Record<string, unknown> {
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  return { stringValue: value };
}

/** `k1=v1,k2=v2` (the OTEL_* list format, values percent-decoded). */
function keyValues(text: string | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const item of (text ?? '').split(',')) {
    const at = item.indexOf('=');
    if (at <= 0) continue;
    const key = item.slice(0, at).trim();
    const raw = item.slice(at + 1).trim();
    try {
      pairs[key] = decodeURIComponent(raw);
    } catch {
      pairs[key] = raw;
    }
  }
  return pairs;
}

function positive(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}
