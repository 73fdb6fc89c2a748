/** Kubernetes client wiring: one KubeConfig, the typed APIs the operator calls, error helpers. */
import type { AgentOptions } from 'node:https';
import {
  type Cluster,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Agent as UndiciAgent } from 'undici';

export interface KubeClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
}

/** `--kubeconfig FILE`, else KUBECONFIG / ~/.kube/config / the in-cluster service account. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (file) kubeConfig.loadFromFile(file);
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

/**
 * client-node 2 builds a new undici Agent (a dispatcher) for every request, so each API call
 * opens a TLS connection: a handshake and a parse of the client key and CA per call. That was
 * most of the operator's CPU under load (a status write per binding, each on a new connection).
 * One dispatcher per set of TLS options is reused instead, keeping idle connections for as long
 * as client-node's TCP keep-alive delay rather than undici's 4 s, so that the workers' requests
 * between bursts find one open. HTTP/2 (one connection for everything, as client-go) was
 * measured slower: the watches' streams share its flow control with every status write
 * (docs/adr/0047-one-reconcile-and-no-request-per-unchanged-binding.md). Proxied clusters keep
 * the library's own dispatchers. The library's `createDispatcher` is private, hence the cast.
 */
const IDLE_CONNECTION_MS = 30_000;

export function reuseConnections(kubeConfig: KubeConfig): KubeConfig {
  const target = kubeConfig as unknown as {
    createDispatcher: (cluster: Cluster | null, options: AgentOptions) => unknown;
    bindery?: true;
  };
  if (target.bindery) return kubeConfig;
  if (typeof target.createDispatcher !== 'function') throw new Error('@kubernetes/client-node has no createDispatcher: reuseConnections needs updating');
  const original = target.createDispatcher.bind(kubeConfig);
  const dispatchers = new Map<string, unknown>();
  target.createDispatcher = (cluster, options) => {
    const wanted = kubeConfig.createDispatcherOptions(cluster, options);
    if (wanted.type !== 'agent') return original(cluster, options);
    // Plain string fields make the key: JSON of the key and certificate Buffers costs more than the handshake saved.
    const fields = options as Record<string, unknown>;
    const key = [cluster?.server, ...['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'].map((k) => String(fields[k] ?? ''))].join('\n');
    let dispatcher = dispatchers.get(key);
    if (!dispatcher) {
      dispatcher = new UndiciAgent({ connect: wanted.connect, keepAliveTimeout: IDLE_CONNECTION_MS });
      dispatchers.set(key, dispatcher);
    }
    return dispatcher;
  };
  target.bindery = true;
  return kubeConfig;
}

export function makeClients(kubeConfig: KubeConfig): KubeClients {
  reuseConnections(kubeConfig);
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
  };
}

/** Options that make a patch call send a JSON merge patch. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call, if it was one. */
export function statusCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown; statusCode?: unknown }).code ?? (error as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (error: unknown): boolean => statusCode(error) === 404;
export const isConflict = (error: unknown): boolean => statusCode(error) === 409;
export const isAlreadyExists = (error: unknown): boolean => statusCode(error) === 409;

/** A short message of an API error for logs and conditions: the API server's message, never request details. */
export function apiErrorMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON: fall through to the error's own message
    }
  } else if (body && typeof body === 'object' && 'message' in body) {
    return String((body as { message: unknown }).message);
  }
  return error instanceof Error ? error.message : String(error);
}
