/**
 * Bulk send (`POST /v1/send/{binding}` with `Content-Type: application/x-ndjson`): one request
 * carries many messages, one JSON object per line, and the answer reports each message on its
 * own, in line order, once the broker confirmed or refused it (docs/adr/0029-bulk-send-as-ndjson.md).
 *
 * A line is the SSE event's shape turned around: `{"payload", "contentType", "id", "headers",
 * "partitionKey", "messageKey"}`, all but `payload` optional. The payload is written as the
 * content type reads: a JSON value for JSON, a string for `text/*`, base64 for anything else.
 */
import { isJsonContentType, isTextContentType } from '../delivery/listeners.ts';
import type { SendOutcome, SendRequest } from '../sidecar/sidecar.ts';
import { InvalidRequestError, STATUS_CODES, toApiError } from './errors.ts';

export const BULK_CONTENT_TYPE = 'application/x-ndjson';

/** One message per non-empty line; a line that cannot be read is an error at its place. */
export function parseBulk(body: Buffer, defaultContentType: string): Array<SendRequest | Error> {
  const messages: Array<SendRequest | Error> = [];
  let line = 0;
  for (const text of body.toString('utf8').split('\n')) {
    line += 1;
    if (text.trim() === '') continue;
    try {
      messages.push(readLine(text, defaultContentType));
    } catch (error) {
      messages.push(new InvalidRequestError(`line ${line}: ${(error as Error).message}`));
    }
  }
  if (messages.length === 0) throw new InvalidRequestError('the bulk body holds no message: send one JSON object per line');
  return messages;
}

function readLine(text: string, defaultContentType: string): SendRequest {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof line !== 'object' || line === null || Array.isArray(line)) throw new Error('not a JSON object');
  const fields = line as Record<string, unknown>;
  if (!('payload' in fields)) throw new Error('has no "payload"');
  const contentType = optionalString(fields, 'contentType');
  // Its length is checked with the other broker limits (sidecar/limits.ts), as a single send's x-msg-id.
  const id = optionalString(fields, 'id');
  const key = optionalString(fields, 'partitionKey');
  const messageKey = optionalString(fields, 'messageKey');
  return {
    body: payloadBytes(fields.payload, contentType ?? defaultContentType),
    headers: headersOf(fields.headers),
    ...(contentType !== undefined && { contentType }),
    ...(id !== undefined && { id }),
    ...(key !== undefined && { key }),
    ...(messageKey !== undefined && { messageKey }),
  };
}

function payloadBytes(payload: unknown, contentType: string): Buffer {
  if (isJsonContentType(contentType)) return Buffer.from(JSON.stringify(payload));
  if (typeof payload !== 'string') {
    throw new Error(`"payload" must be a string for ${contentType} (${isTextContentType(contentType) ? 'the text' : 'base64'})`);
  }
  return isTextContentType(contentType) ? Buffer.from(payload, 'utf8') : Buffer.from(payload, 'base64');
}

function headersOf(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('"headers" must be an object of strings');
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    if (typeof header !== 'string') throw new Error(`header "${name}" must be a string`);
    headers[name] = header;
  }
  return headers;
}

function optionalString(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`"${name}" must be a string`);
  return value;
}

export interface BulkResult {
  statusCode: number;
  id?: string;
  destination?: string;
  binder?: string;
  partition?: number | null;
  code?: string;
  error?: string;
  message?: string;
}

/** Each message's answer: 202 with its receipt, or SPEC section 5's error body for it. */
export function bulkAnswer(outcomes: SendOutcome[]): { allSent: boolean; results: BulkResult[] } {
  let allSent = true;
  const results = outcomes.map((outcome): BulkResult => {
    if (outcome.ok) return { statusCode: 202, ...outcome.result };
    allSent = false;
    const { statusCode, code, message } = toApiError(outcome.error, undefined);
    return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
  });
  return { allSent, results };
}
