/**
 * Secret redaction, the sidecar's one way: every text that may hold a credential (a broker
 * URL, a broker's error message, an error on its way to a log line) goes through `redact`
 * before it is logged, thrown to a client or reported.
 */

/** URLs in free text, e.g. `amqp://user:pass@host:5672/vhost`. */
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi;

/**
 * The value of a key that names a secret, as configuration text writes it: `password: x`,
 * `sasl.password=x`, `"password": "x"`, `secret: x`, `token: x`.
 */
const SECRET_VALUE = /((?:password|passwd|secret|token)["']?\s*[:=]\s*)("[^"\n]*"?|'[^'\n]*'?|[^\s,}\]]+)/gi;

/**
 * `text` with the password of every URL in it masked, the value of every key that names a
 * secret masked, and every one of `secrets` (a password as the broker may echo it, decoded)
 * replaced by `***`.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let redacted = text.replace(URL_IN_TEXT, maskPassword).replace(SECRET_VALUE, '$1***');
  for (const secret of secrets) if (secret !== '') redacted = redacted.split(secret).join('***');
  return redacted;
}

/** The decoded password of a URL, for `redact`'s secrets; none when it has none. */
export function urlSecrets(url: string): string[] {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? [] : [password];
  } catch {
    return [];
  }
}

/** An error as log fields, redacted. */
export function safeError(error: unknown): { message: string; name?: string; code?: string } {
  const e = error as { message?: string; name?: string; code?: string };
  return { message: redact(String(e?.message ?? error)), ...(e?.name && { name: e.name }), ...(e?.code && { code: e.code }) };
}

function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
