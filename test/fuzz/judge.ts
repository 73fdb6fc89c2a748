/**
 * What the fuzz run calls an answer in the contract: the status the request deserves, and
 * a body of the documented shape (README's error table, SPEC section 5).
 */

/** `lost`: a send answered 202 whose message never reached the input that drains its destination. */
export type Failure = 'crash' | 'hang' | '5xx' | 'off-contract' | 'lost';

export type Verdict = { ok: true } | { ok: false; failure: Failure; detail: string };

export const OK: Verdict = { ok: true };

export interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

export interface Expected {
  /** The statuses this request may get. */
  statuses: readonly number[];
  /** For an error status: the code it must carry (else any BINDERY_ERR_* code). */
  code?: string;
}

const ERROR_FIELDS = ['code', 'error', 'message', 'statusCode'];
const SEND_FIELDS = ['binder', 'destination', 'id', 'partition'];

/** Judges one answer against what the request deserves. */
export function judge(answer: Answer, expected: Expected): Verdict {
  const { status } = answer;
  if (status >= 500) return { ok: false, failure: '5xx', detail: `${status} ${answer.body.slice(0, 300)}` };
  if (!expected.statuses.includes(status)) {
    return { ok: false, failure: 'off-contract', detail: `status ${status}, expected ${expected.statuses.join('|')}: ${answer.body.slice(0, 300)}` };
  }
  if (status >= 400) return errorShape(answer, expected.code);
  if (status === 202) return exactFields(answer, SEND_FIELDS);
  return OK;
}

/** The documented error body: exactly four fields, a stable code, the status repeated. */
export function errorShape(answer: Answer, code?: string): Verdict {
  const fields = exactFields(answer, ERROR_FIELDS);
  if (!fields.ok) return fields;
  const body = JSON.parse(answer.body) as { statusCode: unknown; code: unknown };
  if (body.statusCode !== answer.status) return offContract(answer, `statusCode ${String(body.statusCode)} in a ${answer.status} answer`);
  if (typeof body.code !== 'string' || !/^BINDERY_ERR_[A-Z_]+$/.test(body.code)) return offContract(answer, 'no BINDERY_ERR_* code');
  if (code !== undefined && body.code !== code) return offContract(answer, `code ${body.code}, expected ${code}`);
  return OK;
}

function exactFields(answer: Answer, fields: readonly string[]): Verdict {
  if (!answer.contentType?.startsWith('application/json')) return offContract(answer, `content type ${answer.contentType ?? 'missing'}`);
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return offContract(answer, 'a body that is not JSON');
  }
  if (typeof body !== 'object' || body === null) return offContract(answer, 'a body that is not a JSON object');
  const keys = Object.keys(body).sort();
  if (keys.join(',') !== fields.join(',')) return offContract(answer, `fields ${keys.join(',')}, expected ${fields.join(',')}`);
  return OK;
}

function offContract(answer: Answer, why: string): Verdict {
  return { ok: false, failure: 'off-contract', detail: `${answer.status}: ${why}: ${answer.body.slice(0, 300)}` };
}
