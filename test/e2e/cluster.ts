/**
 * The e2e suite drives the test node as a user would: the real kubectl, helm and curl, with
 * KUBECONFIG pointing at the environment's API server. These helpers run them, wait on what
 * `kubectl get` shows, follow `kubectl port-forward`, and read what the consumers logged.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { testEnv } from '../support/env.ts';
import { waitFor as poll } from '../support/wait.ts';

const exec = promisify(execFile);
export const repo = fileURLToPath(new URL('../../', import.meta.url));

function userEnv(): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: testEnv().kubeconfig };
}

async function runTool(command: string, args: string[]): Promise<string> {
  try {
    return (await exec(command, args, { cwd: repo, env: userEnv(), maxBuffer: 32 << 20 })).stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${command.split('/').pop()} ${args.join(' ')} failed: ${(stderr || stdout || String(error)).trim()}`, {
      cause: error,
    });
  }
}

export const kubectl = (...args: string[]): Promise<string> => runTool(testEnv().kubectl, args);
export const helm = (...args: string[]): Promise<string> => runTool(testEnv().helm, args);
export const curl = (url: string): Promise<string> => runTool('curl', ['-sS', '--fail-with-body', '--max-time', '30', url]);

export async function getJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await kubectl('get', '-o', 'json', ...args)) as T;
}

/** The one waitFor, with the pace of a cluster: pods and kubelets move in seconds, not milliseconds. */
export function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  return poll(what, probe, { timeoutMs, everyMs: 1_000 });
}

export const pods = async (namespace: string, selector: string): Promise<V1Pod[]> =>
  (await getJson<{ items: V1Pod[] }>('pods', '-n', namespace, '-l', selector)).items;

/** What `kubectl get pods` prints as READY: ready containers, native sidecars included, over all of them. */
export function readyColumn(pod: V1Pod): string {
  const sidecars = new Set((pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  const statuses = [...(pod.status?.initContainerStatuses ?? []).filter((s) => sidecars.has(s.name)), ...(pod.status?.containerStatuses ?? [])];
  return `${statuses.filter((s) => s.ready).length}/${sidecars.size + (pod.spec?.containers.length ?? 0)}`;
}

function allReady(pod: V1Pod): boolean {
  const [ready, total] = readyColumn(pod).split('/');
  return pod.status?.phase === 'Running' && ready === total;
}

/** Waits until exactly `count` pods match, all Running with every container ready, and none terminating. */
export function waitForReadyPods(namespace: string, selector: string, count: number, timeoutMs = 240_000): Promise<V1Pod[]> {
  return waitFor(`${count} pod(s) ${selector} in ${namespace} Running and ready`, async () => {
    const found = (await pods(namespace, selector)).filter((p) => !p.metadata?.deletionTimestamp);
    return found.length === count && found.every(allReady) ? found : undefined;
  }, timeoutMs);
}

/** `kubectl port-forward <target> :<port>`: the local port kubectl chose, and a way to stop it. */
export async function portForward(namespace: string, target: string, port: number): Promise<{ url: string; stop: () => void }> {
  const child: ChildProcess = spawn(testEnv().kubectl, ['port-forward', '-n', namespace, target, `:${port}`], { env: userEnv() });
  let output = '';
  const local = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kubectl port-forward ${target}: no port after 30 s: ${output}`)), 30_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`kubectl port-forward ${target} exited with ${code}: ${output}`)); });
  });
  return { url: `http://127.0.0.1:${local}`, stop: () => child.kill() };
}

/** The message ids a consumer pod logged (`[consumer :8803] received "<id>" (attempt 1)`). */
export function receivedIds(log: string): string[] {
  return [...log.matchAll(/\] received "([^"]+)"/g)].map((m) => m[1]!);
}

/** `kubectl logs` of one container of each pod matching `selector`, by pod name. */
export async function logsByPod(namespace: string, selector: string, container: string): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const pod of await pods(namespace, selector)) {
    const name = pod.metadata!.name!;
    result.set(name, await kubectl('logs', '-n', namespace, name, '-c', container).catch(() => ''));
  }
  return result;
}

/** A selector-less Service with an EndpointSlice: the Binder's host name reaches a broker outside the cluster. */
export function externalService(name: string, port: number, address: string, targetPort: number): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ name: 'broker', port, targetPort }] } },
      {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [address], conditions: { ready: true } }],
        ports: [{ name: 'broker', port: targetPort, protocol: 'TCP' }],
      },
    ],
  });
}
