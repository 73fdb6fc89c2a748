/**
 * `npm run env -- up | down | status [component...]`: the real RabbitMQ, Kafka and Kubernetes
 * API that the tests run against. What `up` starts keeps running until `down`.
 */
import type { Component, Progress } from './component.ts';
import { selectComponents } from './components.ts';
import { bringUp, takeDown } from './lifecycle.ts';

const usage = `Usage: npm run env -- <up|down|status> [component...]

  up       start (or reuse) the components; they keep running after the command returns
  down     stop the components that this environment started
  status   print each component's version and address

Components: rabbit, kafka, kubernetes, node (all when none is named). node is a kubelet
node of the API server with containerd, kube-proxy, kube-scheduler and CoreDNS, and the
Bindery image built from the Dockerfile; one checkout per machine runs it.
RABBIT_URL, KAFKA_BROKERS and KUBECONFIG, when set, replace the matching component.`;

const progress: Progress = (line) => console.log(line);

async function up(components: Component[]): Promise<number> {
  const started = Date.now();
  let failed = 0;
  await Promise.all(components.map(async (component) => {
    const t0 = Date.now();
    try {
      const outcome = await bringUp(component, progress, 'env-up');
      const status = await component.status();
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      console.log(`${component.name}: ${outcome} in ${seconds} s, ${status.version} at ${status.address}`);
    } catch (error) {
      // Said at once: the other components may still take minutes.
      failed++;
      console.error(error instanceof Error ? error.message : String(error));
    }
  }));
  console.log(`env up: ${failed === 0 ? 'ready' : `${failed} component(s) failed`} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed === 0 ? 0 : 1;
}

async function down(components: Component[]): Promise<number> {
  for (const component of [...components].reverse()) {
    if (component.external()) {
      console.log(`${component.name}: given by ${component.external()}, left alone`);
      continue;
    }
    await takeDown(component);
    console.log(`${component.name}: stopped`);
  }
  return 0;
}

async function status(components: Component[]): Promise<number> {
  let allUp = true;
  for (const component of components) {
    const s = await component.status();
    allUp &&= s.up;
    const origin = component.external() ? ` (from ${component.external()})` : '';
    console.log(`${component.name.padEnd(10)} ${s.up ? 'up  ' : 'down'}  ${s.version.padEnd(28)} ${s.address}${origin}`);
  }
  return allUp ? 0 : 3;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...names] = argv;
  switch (verb) {
    case 'up': return up(selectComponents(names));
    case 'down': return down(selectComponents(names));
    case 'status': return status(selectComponents(names));
    case '--help': case '-h': case 'help':
      console.log(usage);
      return 0;
    default:
      console.error(usage);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
