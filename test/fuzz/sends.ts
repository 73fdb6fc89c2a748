/**
 * Fuzz cases of `POST /v1/send/{binding}`: ordinary sends with odd content types and headers,
 * every limit at and past its edge (the API's and the broker's own), bodies nested deeper
 * than any recursive code goes, and JSON that is not.
 */
import { judge, type Expected, type Verdict } from './judge.ts';
import type { Random } from './random.ts';
import { BINDINGS, LARGE_LIMIT, SMALL_LIMIT, isVerdict, send, type BinderType, type FuzzTarget } from './target.ts';

export interface FuzzCase {
  kind: string;
  /** What is sent, in a line, for the failure report. */
  summary: string;
  run(target: FuzzTarget): Promise<Verdict>;
}

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/vnd.orders.v1+json', 'application/problem+json'];
const OTHER_TYPES = ['text/plain', 'text/', 'application/json, text/plain', ';;', 'foo', 'application/octet-stream', 'x/y; a="b', 'text/csv; charset=latin1', 'application/x-www-form-urlencoded', '*/*'];
/** Kafka's default max.message.bytes: the topic of `large` takes no record over it. */
const KAFKA_TOPIC_LIMIT = 1_048_588;

function sendCase(kind: string, binding: string, headers: Record<string, string>, body: string | Buffer, expected: Expected, summary: string): FuzzCase {
  return {
    kind,
    summary: `POST /v1/send/${binding} ${summary}`,
    async run(target) {
      const answer = await send(target, { method: 'POST', path: `/v1/send/${binding}`, headers, body });
      return isVerdict(answer) ? answer : judge(answer, expected);
    },
  };
}

/** A JSON value of a few fields, with a `key` field when `keyed`. */
function jsonBody(random: Random, keyed: boolean): string {
  const value: Record<string, unknown> = { n: random.int(0, 1e9), s: random.string(random.int(0, 40)), ok: random.chance(0.5) };
  if (keyed) value.key = random.chance(0.5) ? random.string(random.int(1, 20)) : random.int(-1e6, 1e6);
  if (random.chance(0.2)) value.items = Array.from({ length: random.int(0, 20) }, (_, i) => ({ i }));
  return JSON.stringify(value);
}

function messageHeaders(random: Random): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = random.int(0, 6); i > 0; i--) headers[`x-msg-${random.string(random.int(1, 30))}`] = random.string(random.int(0, 120), 'abcdefghij ABC=;,./:0123456789');
  if (random.chance(0.5)) headers['x-msg-id'] = random.string(random.int(1, 80));
  return headers;
}

export function ordinarySend(random: Random): FuzzCase {
  const binding = random.pick([...BINDINGS.outputs, BINDINGS.manualOut, BINDINGS.scratchOut]);
  const headers = messageHeaders(random);
  const json = random.chance(0.7);
  const contentType = json ? random.pick(JSON_TYPES) : random.pick(OTHER_TYPES);
  if (random.chance(0.9)) headers['content-type'] = contentType;
  const effectiveJson = headers['content-type'] === undefined ? binding !== 'text' : json;
  const keyed = binding === 'keyed';
  const keyHeader = keyed && random.chance(0.3);
  if (keyHeader) headers['x-partition-key'] = random.string(random.int(0, 30));
  const body = effectiveJson ? jsonBody(random, keyed && random.chance(0.9)) : random.chance(0.5) ? random.string(random.int(0, 500)) : random.bytes(random.int(0, 500));
  // Only a JSON body can name its key for `payload.key`; the header always can.
  const hasKey = keyHeader || (effectiveJson && JSON.parse(body as string).key !== undefined);
  const statuses = binding === BINDINGS.scratchOut ? [202, 409] : keyed && !hasKey ? [400] : [202];
  const code = keyed && !hasKey ? 'BINDERY_ERR_MISSING_PARTITION_KEY' : undefined;
  return sendCase('send', binding, headers, body, { statuses, ...(code && { code }) }, `content-type ${JSON.stringify(headers['content-type'])}, ${Object.keys(headers).length} headers`);
}

/** Every limit of a send, at its edge and one past it. */
export function limitSend(random: Random, binder: BinderType): FuzzCase {
  const fits = random.chance(0.5);
  const invalidHeader = { statuses: [400], code: 'BINDERY_ERR_INVALID_HEADER' };
  const json = { 'content-type': 'application/json' };
  // Bodies near Kafka's limit are a megabyte each: rare, or a run would mostly move bytes.
  const limit = random.weighted([[10, 'id'], [10, 'id-utf8'], [5, 'empty-id'], [10, 'content-type'], [10, 'header-name'], [10, 'small'], [10, 'large'], [1, 'broker']] as const);
  switch (limit) {
    case 'id':
      return sendCase('limit', 'out', { ...json, 'x-msg-id': 'i'.repeat(fits ? 255 : 256) }, '{}', fits ? { statuses: [202] } : invalidHeader, `x-msg-id of ${fits ? 255 : 256} bytes`);
    case 'id-utf8':
      // Two UTF-8 bytes each: 127 fit in AMQP's 255, 128 do not.
      return sendCase('limit', 'out', { ...json, 'x-msg-id': 'é'.repeat(fits ? 127 : 128) }, '{}', fits ? { statuses: [202] } : invalidHeader, `x-msg-id of ${fits ? 254 : 256} UTF-8 bytes`);
    case 'empty-id':
      return sendCase('limit', 'out', { ...json, 'x-msg-id': '' }, '{}', invalidHeader, 'an empty x-msg-id');
    case 'content-type':
      return sendCase('limit', 'out', { 'content-type': `application/${'x'.repeat(fits ? 243 : 244)}` }, 'raw', fits ? { statuses: [202] } : invalidHeader, `a content type of ${fits ? 255 : 256} bytes`);
    case 'header-name':
      return sendCase('limit', 'out', { ...json, [`x-msg-${'n'.repeat(fits ? 255 : 256)}`]: 'v' }, '{}', fits ? { statuses: [202] } : invalidHeader, `a header name of ${fits ? 255 : 256} bytes`);
    case 'small':
      return sendCase('limit', 'small', { 'content-type': 'text/plain' }, 'b'.repeat(fits ? SMALL_LIMIT : SMALL_LIMIT + 1), fits ? { statuses: [202] } : { statuses: [413], code: 'BINDERY_ERR_PAYLOAD_TOO_LARGE' }, `${fits ? 'at' : 'over'} maxMessageBytes`);
    case 'large': {
      // The binding's own limit (2 MiB), checked while the body is read or after.
      const size = fits ? random.int(1, 4096) : LARGE_LIMIT + random.int(1, 1024);
      return sendCase('limit', 'large', {}, Buffer.alloc(size, 0x6c), fits ? { statuses: [202] } : { statuses: [413], code: 'BINDERY_ERR_PAYLOAD_TOO_LARGE' }, `${size} bytes to a binding of ${LARGE_LIMIT}`);
    }
    case 'broker': {
      // Kafka's own limit (the topic's max.message.bytes): refused before sending, 413.
      const size = fits ? KAFKA_TOPIC_LIMIT - 4096 : KAFKA_TOPIC_LIMIT + random.int(0, 4096);
      const refused = binder === 'kafka' && !fits;
      return sendCase('limit', 'large', {}, Buffer.alloc(size, 0x6b), refused ? { statuses: [413], code: 'BINDERY_ERR_PAYLOAD_TOO_LARGE' } : { statuses: [202] }, `${size} bytes, near Kafka's topic limit`);
    }
  }
}

/** A JSON body nested up to 120 000 levels deep, to an output or as a partition key. */
export function deepSend(random: Random): FuzzCase {
  const depth = random.chance(0.5) ? random.int(1, 200) : random.int(200, 120_000);
  const nest = random.chance(0.5) ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
  if (random.chance(0.5)) {
    return sendCase('deep', 'out', { 'content-type': 'application/json' }, `{"key":"k","nest":${nest}}`, { statuses: [202] }, `a body nested ${depth} deep`);
  }
  // The key is the nested value itself: printing it is the only way to hash it.
  const tooDeep = depth > 64;
  return sendCase('deep', 'keyed', { 'content-type': 'application/json' }, `{"key":${nest}}`,
    tooDeep ? { statuses: [400], code: 'BINDERY_ERR_INVALID_PARTITION_KEY' } : { statuses: [202] }, `a partition key nested ${depth} deep`);
}

export function invalidJsonSend(random: Random): FuzzCase {
  const body = random.pick(['{"a":', '{a:1}', 'nul', '[1,2', '"unterminated', '{"a":1}}', '\u0000', '', ' ', random.string(random.int(1, 50), '{}[]:,"abc\\')]);
  let valid = true;
  try {
    JSON.parse(body);
  } catch {
    valid = false;
  }
  return sendCase('bad-json', 'out', { 'content-type': random.pick(JSON_TYPES) }, body,
    valid ? { statuses: [202] } : { statuses: [400], code: 'BINDERY_ERR_INVALID_PAYLOAD' }, `a body ${JSON.stringify(body.slice(0, 20))}`);
}
