/**
 * An OTLP/HTTP traces receiver for tests: an HTTP server on 127.0.0.1 that accepts
 * `POST /v1/traces` with the JSON encoding, as a collector's OTLP receiver does, and keeps the
 * spans it decoded. It stands in for a collector, which the test environment does not have
 * (docs/adr/0037-tracing-without-the-opentelemetry-sdk.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
  /** The resource's attributes (service.name, ...). */
  resource: Record<string, string | number | boolean>;
}

interface KeyValue { key: string; value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean } }

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that were not OTLP JSON, with why. */
  readonly refused: string[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const problem = receiver.take(request.method, request.url, request.headers['content-type'], Buffer.concat(chunks));
        if (problem !== undefined) receiver.refused.push(problem);
        response.writeHead(problem === undefined ? 200 : 400, { 'content-type': 'application/json' }).end(problem === undefined ? '{}' : JSON.stringify({ message: problem }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  /** The base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private take(method: string | undefined, url: string | undefined, contentType: string | undefined, body: Buffer): string | undefined {
    if (method !== 'POST' || url !== '/v1/traces') return `${method} ${url}: not the traces endpoint`;
    if (!contentType?.startsWith('application/json')) return `content type ${contentType}: only OTLP JSON is decoded here`;
    try {
      const request = JSON.parse(body.toString('utf8')) as {
        resourceSpans: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans: Array<{ spans: Array<Omit<ReceivedSpan, 'attributes' | 'resource'> & { attributes?: KeyValue[] }> }> }>;
      };
      for (const resourceSpans of request.resourceSpans) {
        const resource = attributes(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) this.spans.push({ ...span, attributes: attributes(span.attributes), resource });
        }
      }
      return undefined;
    } catch (error) {
      return `not an ExportTraceServiceRequest: ${(error as Error).message}`;
    }
  }
}

function attributes(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue ?? value.boolValue ?? '');
  }
  return out;
}
