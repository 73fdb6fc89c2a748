/**
 * Bulk send (`POST /v1/send/{binding}` with `Content-Type: application/x-ndjson`): one request
 * carries many messages, one JSON object per line, and the answer reports each message on its
 * own, in line order, once the broker confirmed or refused it (docs/adr/0029-bulk-send-as-ndjson.md).
 *
 * A line is the SSE event's shape turned around: `{"payload", "contentType", "id", "headers",
 * "partitionKey", "messageKey"}`, all but `payload` optional. The payload is written as the
 * content type reads: a JSON value for JSON, a string for `text/*`, base64 for anything else.
 * A JSON payload is sent as the bytes the line holds, as a single send's body is: parsing it
 * and writing it again would round numbers past 2^53 and cost a copy per message.
 */
import { isJsonContentType, isTextContentType } from '../delivery/listeners.ts';
import type { SendOutcome, SendRequest } from '../sidecar/sidecar.ts';
import { InvalidRequestError, STATUS_CODES, toApiError } from './errors.ts';

export const BULK_CONTENT_TYPE = 'application/x-ndjson';

/** One message per non-empty line; a line that cannot be read is an error at its place. */
export function parseBulk(body: Buffer, defaultContentType: string): Array<SendRequest | Error> {
  const messages: Array<SendRequest | Error> = [];
  let line = 0;
  for (let start = 0; start <= body.length; line++) {
    const newline = body.indexOf(LF, start);
    const end = newline === -1 ? body.length : newline;
    const bytes = body.subarray(start, end);
    start = end + 1;
    const text = bytes.toString('utf8');
    if (text.trim() === '') continue;
    try {
      messages.push(readLine(bytes, text, defaultContentType));
    } catch (error) {
      messages.push(new InvalidRequestError(`line ${line + 1}: ${(error as Error).message}`));
    }
  }
  if (messages.length === 0) throw new InvalidRequestError('the bulk body holds no message: send one JSON object per line');
  return messages;
}

function readLine(bytes: Buffer, text: string, defaultContentType: string): SendRequest {
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
  const type = contentType ?? defaultContentType;
  return {
    body: isJsonContentType(type) ? payloadSpan(bytes) : payloadBytes(fields.payload, type),
    headers: headersOf(fields.headers),
    ...(contentType !== undefined && { contentType }),
    ...(id !== undefined && { id }),
    ...(key !== undefined && { key }),
    ...(messageKey !== undefined && { messageKey }),
  };
}

function payloadBytes(payload: unknown, contentType: string): Buffer {
  if (typeof payload !== 'string') {
    throw new Error(`"payload" must be a string for ${contentType} (${isTextContentType(contentType) ? 'the text' : 'base64'})`);
  }
  return isTextContentType(contentType) ? Buffer.from(payload, 'utf8') : Buffer.from(payload, 'base64');
}

const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const PAYLOAD_KEY = Buffer.from('"payload"');

/**
 * The bytes of the top-level `payload` member's value in `line`, a JSON object that JSON.parse
 * has read (so well formed). The last one counts, as for JSON.parse; a key written with escapes
 * is read as JSON.parse reads it.
 */
export function payloadSpan(line: Buffer): Buffer {
  let span: Buffer | undefined;
  let i = skipSpace(line, 0) + 1; // past {
  for (;;) {
    i = skipSpace(line, i);
    if (line[i] !== QUOTE) break;
    const keyStart = i;
    i = skipString(line, i);
    const key = line.subarray(keyStart, i);
    i = skipSpace(line, skipSpace(line, i) + 1); // past :
    const valueStart = i;
    i = skipValue(line, i);
    if (key.equals(PAYLOAD_KEY) || (key.includes(BACKSLASH) && JSON.parse(key.toString('utf8')) === 'payload')) span = line.subarray(valueStart, i);
    i = skipSpace(line, i);
    if (line[i] !== COMMA) break;
    i++;
  }
  if (span === undefined) throw new Error('has no "payload"');
  return span;
}

function skipSpace(line: Buffer, i: number): number {
  while (line[i] === 0x20 || line[i] === 0x09 || line[i] === 0x0d || line[i] === LF) i++;
  return i;
}

/** Past the string that starts at `i`: the next quote not escaped (an odd run of backslashes before it). */
function skipString(line: Buffer, i: number): number {
  for (let quote = line.indexOf(QUOTE, i + 1); ; quote = line.indexOf(QUOTE, quote + 1)) {
    let backslashes = 0;
    while (line[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
  }
}

function skipValue(line: Buffer, i: number): number {
  const first = line[i];
  if (first === QUOTE) return skipString(line, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number, true, false or null: up to the next delimiter.
    while (i < line.length && line[i] !== COMMA && line[i] !== CLOSE_BRACE && line[i] !== CLOSE_BRACKET && line[i]! > 0x20) i++;
    return i;
  }
  let depth = 0;
  do {
    const c = line[i];
    if (c === QUOTE) {
      i = skipString(line, i);
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    i++;
  } while (depth > 0);
  return i;
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
