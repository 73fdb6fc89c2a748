/** Kubernetes client wiring: one KubeConfig, the typed APIs the operator calls, error helpers. */
import { Agent } from 'node:https';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';

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
 * client-node 1.4 builds a new https.Agent for every request: a TLS handshake and a parse of
 * the client key per API call, which dominated the operator's CPU under load. One keep-alive
 * agent per set of TLS options is reused instead. Proxied clusters keep the library's agents.
 */
export function reuseConnections(kubeConfig: KubeConfig): KubeConfig {
  const target = kubeConfig as unknown as {
    createAgent: (cluster: { server?: string; proxyUrl?: string } | null, options: Record<string, unknown>) => unknown;
    bindery?: true;
  };
  if (target.bindery) return kubeConfig;
  const original = target.createAgent.bind(kubeConfig);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    if (!cluster?.server?.startsWith('https:') || cluster.proxyUrl) return original(cluster, options);
    // Plain string fields make the key: JSON of the key and certificate Buffers costs more than the handshake saved.
    const key = [cluster.server, ...['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'].map((k) => String(options[k] ?? ''))].join('\n');
    let agent = agents.get(key);
    if (!agent) {
      agent = new Agent({ ...options, keepAlive: true });
      agents.set(key, agent);
    }
    return agent;
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
