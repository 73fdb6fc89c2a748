/** The RabbitMQ URL as amqplib is given it. Its password is hidden by redact.ts wherever it is logged. */

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
