/**
 * The bulk read of a vhost over RabbitMQ's management API: three lists (exchanges, queues,
 * bindings), each with only the columns the drift check compares, instead of a passive declare
 * per object over AMQP (docs/adr/0046-resync-reads-rabbitmq-in-bulk.md). Queue depths come
 * from the queue totals, without the per-queue rate statistics.
 */
import { parseSnapshot, type RabbitSnapshot } from './snapshot.ts';

export interface ManagementEndpoint {
  /** e.g. http://rabbitmq:15672, without credentials. */
  url: string;
  vhost: string;
  username: string;
  password: string;
}

const TIMEOUT_MS = 10_000;

/** The management URL of a broker: the AMQP host, the given port, https with TLS. */
export function managementUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** One snapshot of the vhost; throws with the list and the HTTP status (never the credentials) when one cannot be read. */
export async function readSnapshot(endpoint: ManagementEndpoint): Promise<RabbitSnapshot> {
  const vhost = encodeURIComponent(endpoint.vhost);
  const authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64')}`;
  const list = async (path: string): Promise<unknown> => {
    const response = await fetch(`${endpoint.url}/api/${path}`, { headers: { authorization }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`the management API answered ${response.status} to GET /api/${path.split('?')[0]}`);
    }
    return response.json();
  };
  const [exchanges, queues, bindings] = await Promise.all([
    list(`exchanges/${vhost}?columns=name,type,durable,auto_delete`),
    list(`queues/${vhost}?disable_stats=true&enable_queue_totals=true&columns=name,durable,auto_delete,arguments,messages_ready`),
    list(`bindings/${vhost}?columns=source,destination,destination_type,routing_key`),
  ]);
  return parseSnapshot({ exchanges, queues, bindings });
}
