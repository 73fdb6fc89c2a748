/**
 * Where the sidecar's spans begin and end: around a send (PRODUCER) and around each push to
 * the app (CONSUMER), with the attributes of OpenTelemetry's messaging conventions. The span
 * becomes the parent the next hop sees: the broker's message carries the send span, the app's
 * push request the process span.
 */
import type { BinderType, BindingConfig } from '../config/model.ts';
import type { InboundMessage } from '../binders/binder.ts';
import type { PushTransport } from '../delivery/push.ts';
import { traceContextOf, withTraceContext } from './context.ts';
import { SpanKind, messagingSystem, type Attributes, type Tracer } from './tracer.ts';

export interface TracedSend {
  /** The message's headers, carrying the send span as their trace context. */
  headers: Record<string, string>;
  end(result: { partition?: number | undefined; error?: Error }): void;
}

export function traceSend(
  tracer: Tracer,
  binding: BindingConfig,
  binderType: BinderType,
  message: { id: string; headers: Record<string, string>; size: number },
): TracedSend {
  if (!tracer.enabled) return { headers: message.headers, end: () => undefined };
  const span = tracer.start(`send ${binding.destination}`, SpanKind.producer, traceContextOf(message.headers), {
    ...common(binding, binderType),
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'send',
    'messaging.message.id': message.id,
    'messaging.message.body.size': message.size,
  });
  return {
    headers: withTraceContext(message.headers, span.context),
    end({ partition, error }) {
      span.end({
        attributes: partition === undefined ? {} : { 'messaging.destination.partition.id': String(partition) },
        ...(error !== undefined && { error: error.name }),
      });
    },
  };
}

/** The push transport with a process span around each attempt; the app gets that span as its parent. */
export function tracePush(tracer: Tracer, binding: BindingConfig, binderType: BinderType, transport: PushTransport): PushTransport {
  if (!tracer.enabled) return transport;
  return async (message: InboundMessage, attempt: number) => {
    const span = tracer.start(`process ${binding.destination}`, SpanKind.consumer, traceContextOf(message.headers), {
      ...common(binding, binderType),
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.message.id': message.id,
      'messaging.message.body.size': message.payload.length,
      ...(binding.group !== undefined && { 'messaging.consumer.group.name': binding.group }),
      ...(message.partition !== undefined && { 'messaging.destination.partition.id': String(message.partition) }),
      'bindery.delivery.attempt': attempt,
    });
    const result = await transport({ ...message, headers: withTraceContext(message.headers, span.context) }, attempt);
    span.end(result.ok ? {} : { error: result.retryable ? 'retryable' : 'rejected', attributes: { 'bindery.delivery.failure': result.reason } });
    return result;
  };
}

function common(binding: BindingConfig, binderType: BinderType): Attributes {
  return {
    'messaging.system': messagingSystem(binderType),
    'messaging.destination.name': binding.destination,
    'bindery.binding': binding.name,
  };
}
