/**
 * CloudEvents 1.0 across the sidecar: the HTTP binding (binary mode `ce-*` headers, structured
 * mode `application/cloudevents+json` bodies) on one side, message headers as Spring Cloud
 * Function writes and reads them on the other (docs/adr/0036-cloudevents-as-spring-cloud-function-headers.md).
 *
 * On the broker an attribute is the message header `ce_<attribute>`: Spring Cloud Function's
 * Kafka prefix, which its CloudEventMessageUtils recognises whatever the protocol, so a Spring
 * service on RabbitMQ reads it too. Read back, any of the prefixes Spring writes (`ce_`, `ce-`
 * and AMQP's `cloudEvents:`) counts, and the app gets the attribute as `ce-<attribute>`.
 * Free of HTTP servers and brokers, so it is table-tested on its own.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isJsonContentType } from '../delivery/listeners.ts';
import { InvalidRequestError } from '../routes/errors.ts';
import { InvalidPayloadError } from '../sidecar/errors.ts';

/** The HTTP binding's prefix, and the name an attribute has for the app (push headers, SSE `headers`). */
export const HTTP_PREFIX = 'ce-';
/** The prefix an attribute has on the broker. */
export const MESSAGE_PREFIX = 'ce_';
/** Spring Cloud Function's prefix when it writes to AMQP itself; read, never written. */
const AMQP_PREFIX = 'cloudEvents:';
const READ_PREFIXES = [MESSAGE_PREFIX, HTTP_PREFIX, AMQP_PREFIX];

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';
const SPEC_VERSION = '1.0';
const REQUIRED = ['id', 'source', 'specversion', 'type'] as const;
/** Attribute names (CloudEvents 1.0, "Attribute Naming Convention"): lower-case letters and digits. */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;

/** A send as the send route hands it on: what goes to the broker. */
export interface SendParts {
  payload: Buffer;
  contentType: string | undefined;
  /** The event's attributes as message headers (`ce_<attribute>`); empty for a send that is no event. */
  headers: Record<string, string>;
}

/** The event a send carries, if any: binary mode from `ce-*` headers, structured mode from the body. */
export function eventFromRequest(httpHeaders: IncomingHttpHeaders, payload: Buffer, contentType: string | undefined): SendParts {
  if (contentType !== undefined && mediaType(contentType) === STRUCTURED_CONTENT_TYPE) return fromStructured(payload);
  const attributes: Record<string, string> = {};
  for (const name in httpHeaders) {
    const value = httpHeaders[name];
    if (!name.startsWith(HTTP_PREFIX) || value === undefined) continue;
    attributes[name.slice(HTTP_PREFIX.length)] = percentDecoded(Array.isArray(value) ? value.join(', ') : value);
  }
  if (Object.keys(attributes).length === 0) return { payload, contentType, headers: {} };
  const problem = attributesProblem(attributes);
  if (problem !== undefined) throw new InvalidRequestError(`the ce-* headers are no CloudEvent: ${problem}`);
  return { payload, contentType, headers: prefixed(attributes) };
}

/**
 * Structured mode becomes binary mode on the broker, as Spring Cloud Function turns it on
 * receipt: the data is the message body (so partition key expressions and every consumer see
 * the data itself), `datacontenttype` its content type, the other attributes `ce_*` headers.
 */
function fromStructured(body: Buffer): SendParts {
  let event: unknown;
  try {
    event = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, (error as Error).message);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, 'a structured CloudEvent is a JSON object');
  }
  const { data, data_base64: base64, datacontenttype, ...rest } = event as Record<string, unknown>;
  if (datacontenttype !== undefined && typeof datacontenttype !== 'string') {
    throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, 'datacontenttype must be a string');
  }
  if (data !== undefined && base64 !== undefined) throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, 'give data or data_base64, not both');
  if (base64 !== undefined && typeof base64 !== 'string') throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, 'data_base64 must be a string');
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(rest)) {
    if (value === null) continue;
    if (typeof value === 'object') throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, `attribute "${name}" must be a string, number or boolean`);
    attributes[name] = String(value);
  }
  const problem = attributesProblem(attributes);
  if (problem !== undefined) throw new InvalidPayloadError(STRUCTURED_CONTENT_TYPE, problem);
  // An event without data is an empty body, which no JSON content type allows.
  const contentType = datacontenttype ?? (data === undefined && base64 === undefined ? 'application/octet-stream' : 'application/json');
  let payload: Buffer;
  if (base64 !== undefined) payload = Buffer.from(base64, 'base64');
  else if (data === undefined) payload = Buffer.alloc(0);
  // JSON data is the JSON value; any other data is a string in the event and its text on the broker.
  else if (typeof data === 'string' && !isJsonContentType(contentType)) payload = Buffer.from(data, 'utf8');
  else payload = Buffer.from(JSON.stringify(data), 'utf8');
  return { payload, contentType, headers: prefixed(attributes) };
}

/** What makes these attributes no CloudEvent 1.0, if anything. */
function attributesProblem(attributes: Record<string, string>): string | undefined {
  const missing = REQUIRED.filter((name) => attributes[name] === undefined || attributes[name] === '');
  if (missing.length > 0) return `the required attribute(s) ${missing.join(', ')} are missing`;
  if (attributes.specversion !== SPEC_VERSION) return `specversion "${attributes.specversion}" is not supported; use "${SPEC_VERSION}"`;
  const badName = Object.keys(attributes).find((name) => !ATTRIBUTE_NAME.test(name));
  if (badName !== undefined) return `"${badName}" is not an attribute name (a-z and 0-9, at most 20)`;
  return undefined;
}

/** The HTTP binding percent-encodes what is not printable ASCII in a `ce-*` value. */
function percentDecoded(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** A value as a `ce-*` HTTP header: percent-encoded outside printable ASCII, and `%` and `"` themselves. */
export function percentEncoded(value: string): string {
  return value.replace(/[^\x20-\x7e]|[%"]/gu, (c) => encodeURIComponent(c));
}

function prefixed(attributes: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) headers[MESSAGE_PREFIX + name] = value;
  return headers;
}

/** The CloudEvents attribute a message header carries (`ce_id`, `ce-id` and `cloudEvents:id` all carry `id`). */
export function attributeOf(header: string): string | undefined {
  for (const prefix of READ_PREFIXES) {
    if (header.startsWith(prefix) && header.length > prefix.length) return header.slice(prefix.length).toLowerCase();
  }
  return undefined;
}

/** A received message's headers as the app sees them: each attribute renamed `ce-<attribute>`, the rest unchanged. */
export function appHeaders(headers: Record<string, string>): Record<string, string> {
  let renamed: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(headers)) {
    const attribute = attributeOf(name);
    if (attribute === undefined) continue;
    renamed ??= { ...headers };
    delete renamed[name];
    renamed[HTTP_PREFIX + attribute] = value;
  }
  return renamed ?? headers;
}

function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}
