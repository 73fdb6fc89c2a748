/** RabbitMQ URLs carry the password; everything that logs or reports one goes through here. */
import { redactUrl } from '../../config/model.ts';

/** Removes the URL and its password from a broker error's text before it is logged or thrown. */
export function scrubSecrets(text: string, url: string): string {
  let scrubbed = text.split(url).join(redactUrl(url));
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password !== '') scrubbed = scrubbed.split(password).join('***');
  } catch {
    // An unparsable URL was hidden whole above; there is no password to look for.
  }
  return scrubbed;
}

/** Heartbeat (seconds) asked for unless the URL names one: amqplib's default of 0 never notices a silent peer. */
export const DEFAULT_HEARTBEAT_SECONDS = 10;

export function withHeartbeat(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.searchParams.has('heartbeat')) return url;
    parsed.searchParams.set('heartbeat', String(DEFAULT_HEARTBEAT_SECONDS));
    return parsed.toString();
  } catch {
    return url;
  }
}
