import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent, traceContextOf, withTraceContext } from '../../../../runtime/src/tracing/context.ts';
import { otlpOptionsFromEnv, otlpRequest } from '../../../../runtime/src/tracing/otlp.ts';
import { SpanKind, recordingTracer, type SpanData } from '../../../../runtime/src/tracing/tracer.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent (W3C Trace Context)', () => {
  it('reads trace id, parent id and the sampled flag, with tracestate beside them', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`, 'vendor=1')).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, state: 'vendor=1' });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
  });

  it('reads a later version by its first four fields, as the spec asks', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-comes-next`)?.traceId).toBe(TRACE);
  });

  it.each([
    ['malformed', 'not-a-traceparent'],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['extra fields on version 00', `00-${TRACE}-${SPAN}-01-extra`],
  ])('ignores one that is %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('drops a tracestate longer than the spec allows, and keeps the traceparent', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`, 'a'.repeat(513))).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
  });

  it('writes what it reads', () => {
    const value = `00-${TRACE}-${SPAN}-01`;
    expect(formatTraceparent(parseTraceparent(value)!)).toBe(value);
  });

  it('replaces the trace context of message headers and keeps the others', () => {
    const headers = { traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1', other: 'x' };
    const next = { traceId: TRACE, spanId: 'aaaaaaaaaaaaaaaa', sampled: true, state: 'a=1' };
    expect(withTraceContext(headers, next)).toEqual({ other: 'x', traceparent: `00-${TRACE}-aaaaaaaaaaaaaaaa-01`, tracestate: 'a=1' });
    expect(traceContextOf(headers)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, state: 'a=1' });
  });
});

describe('spans', () => {
  it('continue the parent trace, and a parent that was not sampled makes a span that is never exported', () => {
    const spans: SpanData[] = [];
    const tracer = recordingTracer((span) => spans.push(span));
    const sampled = tracer.start('send orders', SpanKind.producer, { traceId: TRACE, spanId: SPAN, sampled: true }, { a: 1 });
    sampled.end({ attributes: { b: 'x' } });
    sampled.end();
    tracer.start('send orders', SpanKind.producer, { traceId: TRACE, spanId: SPAN, sampled: false }, {}).end();
    const root = tracer.start('send orders', SpanKind.producer, undefined, {});
    root.end({ error: 'BinderUnavailableError' });
    expect(spans).toHaveLength(2);
    expect(spans[0]).toMatchObject({ name: 'send orders', kind: 4, parentSpanId: SPAN, attributes: { a: 1, b: 'x' } });
    expect(spans[0]!.context.traceId).toBe(TRACE);
    expect(spans[0]!.context.spanId).not.toBe(SPAN);
    expect(spans[0]!.endNanos).toBeGreaterThanOrEqual(spans[0]!.startNanos);
    expect(spans[1]).toMatchObject({ error: 'BinderUnavailableError' });
    expect(spans[1]!.parentSpanId).toBeUndefined();
    expect(spans[1]!.context.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('are written in OTLP JSON: hex ids, integer kinds, 64-bit values as strings, error status', () => {
    const span: SpanData = {
      name: 'send orders', kind: SpanKind.producer, context: { traceId: TRACE, spanId: SPAN, sampled: true, state: 'a=1' },
      parentSpanId: 'bbbbbbbbbbbbbbbb', startNanos: 1n, endNanos: 2n,
      attributes: { 'messaging.system': 'kafka', size: 3, ratio: 0.5, ok: true }, error: 'ConfirmTimeoutError',
    };
    expect(otlpRequest([span], { 'service.name': 'svc' })).toEqual({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [{
          scope: { name: 'bindery-sidecar' },
          spans: [{
            traceId: TRACE, spanId: SPAN, parentSpanId: 'bbbbbbbbbbbbbbbb', traceState: 'a=1', name: 'send orders', kind: 4,
            startTimeUnixNano: '1', endTimeUnixNano: '2',
            attributes: [
              { key: 'messaging.system', value: { stringValue: 'kafka' } },
              { key: 'size', value: { intValue: '3' } },
              { key: 'ratio', value: { doubleValue: 0.5 } },
              { key: 'ok', value: { boolValue: true } },
              { key: 'error.type', value: { stringValue: 'ConfirmTimeoutError' } },
            ],
            status: { code: 2, message: 'ConfirmTimeoutError' },
          }],
        }],
      }],
    });
  });
});

describe('OTLP configuration from the standard environment', () => {
  it('is off without an endpoint, and when the SDK is disabled', () => {
    expect(otlpOptionsFromEnv({})).toBeUndefined();
    expect(otlpOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(otlpOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('appends /v1/traces to the base endpoint and takes a traces endpoint as it is', () => {
    expect(otlpOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })?.url).toBe('http://c:4318/v1/traces');
    expect(otlpOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' })?.url).toBe('http://t/x');
  });

  it('reads service name, resource attributes, headers and batch settings', () => {
    expect(otlpOptionsFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_SERVICE_NAME: 'orders-sidecar',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=p-1,team=a%20b',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20t',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_QUEUE_SIZE: 'lots',
    })).toEqual({
      url: 'http://c:4318/v1/traces',
      headers: { authorization: 'Bearer t' },
      resource: { 'k8s.pod.name': 'p-1', team: 'a b', 'service.name': 'orders-sidecar' },
      delayMs: 200,
      maxQueue: 2048,
      timeoutMs: 10_000,
    });
  });
});
