/**
 * `tsx test/env/forward.ts <address> <port>...`: relays TCP connections from <address>:<port>
 * to 127.0.0.1:<port>. The environment's API server and brokers listen on loopback only; the
 * node runs this on the pod network's gateway so that pods reach them (ClusterIP Services and
 * Kafka's advertised listener for pods point there). Runs until SIGTERM.
 */
import { connect, createServer } from 'node:net';

const [address, ...ports] = process.argv.slice(2);
if (!address || ports.length === 0 || ports.some((p) => !/^\d+$/.test(p))) {
  console.error('usage: forward.ts <listen address> <port>...');
  process.exit(2);
}

for (const port of ports.map(Number)) {
  const server = createServer((inbound) => {
    const outbound = connect({ host: '127.0.0.1', port });
    // A broker or API server going away closes the pod's side too, as a direct connection would.
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.pipe(outbound).pipe(inbound);
  });
  server.on('error', (error) => {
    console.error(`forward ${address}:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, address, () => console.log(`forwarding ${address}:${port} to 127.0.0.1:${port}`));
}
process.on('SIGTERM', () => process.exit(0));
