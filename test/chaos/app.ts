/**
 * The app behind a push sidecar in the fault suite, as a process of its own so that a
 * scenario can `kill -9` it mid-push: `node --import tsx test/chaos/app.ts PORT`. Answers
 * every push 200 and prints its `x-msg-id` on a line of its own, once the body arrived.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    process.stdout.write(`${String(request.headers['x-msg-id'])}\n`);
    response.writeHead(200).end();
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
