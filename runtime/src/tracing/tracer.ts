/**
 * The sidecar's own spans, following OpenTelemetry's semantic conventions for messaging: a
 * PRODUCER span `send <destination>` for each send and a CONSUMER span `process <destination>`
 * for each push attempt, each a child of the trace context the message came with. Off unless
 * an OTLP endpoint is configured (otlp.ts); off, the trace context passes through unchanged.
 * No OpenTelemetry SDK: a span is a few fields, and the exporter writes OTLP/HTTP JSON itself
 * (docs/adr/0037-tracing-without-the-opentelemetry-sdk.md).
 */
import type { BinderConfig } from '../config/model.ts';
import { newSpanId, newTraceId, type TraceContext } from './context.ts';

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** OTLP's SpanKind values. */
export const SpanKind = { producer: 4, consumer: 5 } as const;

/** A finished span, in the terms of OTLP's data model. */
export interface SpanData {
  name: string;
  kind: (typeof SpanKind)[keyof typeof SpanKind];
  context: TraceContext;
  parentSpanId?: string;
  startNanos: bigint;
  endNanos: bigint;
  attributes: Attributes;
  /** Set when the operation failed. */
  error?: string;
}

export interface Span {
  /** What the next hop carries: this span as the parent. */
  readonly context: TraceContext;
  end(result?: { error?: string; attributes?: Attributes }): void;
}

export interface Tracer {
  readonly enabled: boolean;
  start(name: string, kind: SpanData['kind'], parent: TraceContext | undefined, attributes: Attributes): Span;
  /** Exports what is buffered; resolves when the receiver answered or gave up. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Where finished spans go (the OTLP exporter, or a test's list). */
export type SpanSink = (span: SpanData) => void;

/** Wall-clock nanoseconds with sub-millisecond resolution, as OTLP timestamps are. */
export function nowNanos(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** Spans recorded into `sink`; a parent that was not sampled makes an unsampled child, never exported. */
export function recordingTracer(sink: SpanSink, flush: () => Promise<void> = async () => undefined, close = flush): Tracer {
  return {
    enabled: true,
    start(name, kind, parent, attributes) {
      const context: TraceContext = {
        traceId: parent?.traceId ?? newTraceId(),
        spanId: newSpanId(),
        sampled: parent?.sampled ?? true,
        ...(parent?.state !== undefined && { state: parent.state }),
      };
      const startNanos = nowNanos();
      let ended = false;
      return {
        context,
        end(result = {}) {
          if (ended || !context.sampled) return;
          ended = true;
          sink({
            name,
            kind,
            context,
            ...(parent !== undefined && { parentSpanId: parent.spanId }),
            startNanos,
            endNanos: nowNanos(),
            attributes: { ...attributes, ...result.attributes },
            ...(result.error !== undefined && { error: result.error }),
          });
        },
      };
    },
    flush,
    close,
  };
}

/** Tracing off: callers see `enabled: false` and start no spans, so the message keeps the trace context it came with. */
export const noTracer: Tracer = { ...recordingTracer(() => undefined), enabled: false };

/** `messaging.system` of a binder type (the conventions' names; other types as they are). */
export function messagingSystem(type: BinderConfig['type']): string {
  return type === 'rabbit' ? 'rabbitmq' : type;
}
