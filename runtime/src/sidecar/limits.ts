/**
 * Limits a message must fit on every broker, checked before it is published: a send the
 * broker would refuse, or that its client library could not even encode, answers 400 rather
 * than failing on a connection that other sends share. The limits are RabbitMQ's, the
 * strictest of the brokers, for every binder alike, so that a binding moving to another
 * broker keeps accepting the same messages.
 */
import { InvalidHeaderError } from './errors.ts';

/** AMQP 0-9-1's short string: the message id, the content type and every header name. */
export const SHORT_STRING_BYTES = 255;

/** UTF-8 takes at most 3 bytes per UTF-16 unit, so shorter strings need no counting. */
const SURELY_SHORT = Math.floor(SHORT_STRING_BYTES / 3);

/** Throws InvalidHeaderError naming the first field that does not fit. */
export function checkMessageLimits(id: string | undefined, contentType: string, headers: Record<string, string>): void {
  if (id !== undefined) {
    if (id === '') throw new InvalidHeaderError('x-msg-id must not be empty');
    if (tooLong(id)) throw new InvalidHeaderError(`x-msg-id is longer than ${SHORT_STRING_BYTES} bytes (UTF-8)`);
  }
  if (tooLong(contentType)) throw new InvalidHeaderError(`Content-Type is longer than ${SHORT_STRING_BYTES} bytes (UTF-8)`);
  for (const name in headers) {
    if (tooLong(name)) throw new InvalidHeaderError(`the name of header x-msg-${name.slice(0, 32)}... is longer than ${SHORT_STRING_BYTES} bytes`);
  }
}

function tooLong(text: string): boolean {
  return text.length > SURELY_SHORT && Buffer.byteLength(text, 'utf8') > SHORT_STRING_BYTES;
}
