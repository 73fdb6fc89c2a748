/**
 * The HTTPS endpoint of the mutating admission webhook: it decodes an AdmissionReview v1,
 * reads the namespace's StreamBindings, Binders and the pod's StatefulSet, and answers with
 * what the pure builder in patch.ts decided. Nothing here decides anything about injection.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppsV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION, type Binder, type StreamBinding } from '../api/types.ts';
import { buildInjectionPatch, DEFAULT_SIDECAR_RESOURCES, INJECT_LABEL, type InjectionDecision, type SidecarOptions } from './patch.ts';

export const MUTATE_PATH = '/mutate';
export const DEFAULT_SIDECAR_IMAGE = 'bindery/bindery:0.1.0';
const MAX_REVIEW_BYTES = 8 * 1024 * 1024;
/** cert-manager renews certificates in place; the server picks them up without a restart. */
const CERT_POLL_MS = 30_000;

export interface WebhookOptions {
  port: number;
  /** Defaults to all interfaces: the API server calls in through the webhook Service. */
  host?: string;
  certFile: string;
  keyFile: string;
  kubeConfig: KubeConfig;
  logger: Logger;
  /** The sidecar to inject; defaults to sidecarOptionsFromEnv(process.env). */
  sidecar?: Omit<SidecarOptions, 'statefulSetReplicas'>;
}

export interface Webhook {
  /** The port actually listened on (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

interface AdmissionRequest {
  uid: string;
  kind?: { kind?: string };
  namespace?: string;
  operation?: string;
  object?: V1Pod;
}

/**
 * The sidecar image and resources come from the operator's environment, which the chart sets:
 * BINDERY_SIDECAR_IMAGE, BINDERY_SIDECAR_IMAGE_PULL_POLICY, BINDERY_SIDECAR_RESOURCES (JSON of a
 * container's `resources`).
 */
export function sidecarOptionsFromEnv(env: NodeJS.ProcessEnv): Omit<SidecarOptions, 'statefulSetReplicas'> {
  const resources = env.BINDERY_SIDECAR_RESOURCES ? JSON.parse(env.BINDERY_SIDECAR_RESOURCES) : DEFAULT_SIDECAR_RESOURCES;
  return {
    image: env.BINDERY_SIDECAR_IMAGE || DEFAULT_SIDECAR_IMAGE,
    ...(env.BINDERY_SIDECAR_IMAGE_PULL_POLICY ? { imagePullPolicy: env.BINDERY_SIDECAR_IMAGE_PULL_POLICY } : {}),
    resources,
  };
}

export async function startWebhook(options: WebhookOptions): Promise<Webhook> {
  const { logger } = options;
  const sidecar = options.sidecar ?? sidecarOptionsFromEnv(process.env);
  const customObjects = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const apps = options.kubeConfig.makeApiClient(AppsV1Api);

  async function decide(request: AdmissionRequest): Promise<InjectionDecision> {
    const pod = request.object;
    if (request.kind?.kind !== 'Pod' || request.operation !== 'CREATE' || !pod) {
      return { allowed: true, patch: [], outcome: 'not-opted-in' };
    }
    // Pods that did not opt in cost no API call.
    if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') return buildInjectionPatch(pod, [], [], sidecar);
    const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';
    const list = async <T>(plural: string): Promise<T[]> =>
      ((await customObjects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })) as { items: T[] }).items;
    const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'StatefulSet' && o.controller === true);
    const [bindings, binders, statefulSet] = await Promise.all([
      list<StreamBinding>('streambindings'),
      list<Binder>('binders'),
      owner ? apps.readNamespacedStatefulSet({ name: owner.name, namespace }) : undefined,
    ]);
    const replicas = statefulSet ? (statefulSet.spec?.replicas ?? 1) : undefined;
    return buildInjectionPatch(pod, bindings, binders, { ...sidecar, ...(replicas !== undefined ? { statefulSetReplicas: replicas } : {}) });
  }

  async function review(body: string): Promise<unknown> {
    const request = (JSON.parse(body) as { request?: AdmissionRequest }).request;
    if (!request?.uid) throw new BadReview('not an AdmissionReview: request.uid is missing');
    const pod = request.object?.metadata;
    const podName = pod?.name ?? `${pod?.generateName ?? ''}*`;
    let decision: InjectionDecision;
    try {
      decision = await decide(request);
    } catch (error) {
      logger.error({ err: error, namespace: request.namespace, pod: podName }, 'injection lookup failed');
      decision = { allowed: false, message: `bindery: could not read the namespace's StreamBindings and Binders: ${(error as Error).message}` };
    }
    const response: Record<string, unknown> = { uid: request.uid, allowed: decision.allowed };
    if (decision.allowed) {
      if (decision.outcome === 'injected') {
        response.patchType = 'JSONPatch';
        response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
      }
      // A reinvocation (reinvocationPolicy IfNeeded) finds the sidecar already there: not news.
      const level = decision.outcome === 'injected' ? 'info' : 'debug';
      logger[level]({ namespace: request.namespace, pod: podName, outcome: decision.outcome }, 'pod admitted');
    } else {
      response.status = { code: 400, reason: 'BadRequest', message: decision.message };
      logger.info({ namespace: request.namespace, pod: podName, reason: decision.message }, 'pod refused');
    }
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return send(res, 200, { status: 'ok' });
    if (path !== MUTATE_PATH) return send(res, 404, { message: `no route ${req.method} ${path}` });
    if (req.method !== 'POST') return send(res, 405, { message: 'POST an AdmissionReview' });
    try {
      send(res, 200, await review(await readBody(req)));
    } catch (error) {
      const status = error instanceof BadReview || error instanceof SyntaxError ? 400 : 500;
      logger.warn({ err: error }, 'bad admission request');
      send(res, status, { message: (error as Error).message });
    }
  }

  const tls = () => ({ cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) });
  const server: Server = createServer(tls(), (req, res) => void handle(req, res));
  watchFile(options.certFile, { interval: CERT_POLL_MS, persistent: false }, () => {
    try {
      server.setSecureContext(tls());
      logger.info('webhook certificate reloaded');
    } catch (error) {
      logger.warn({ err: error }, 'webhook certificate reload failed; keeping the previous one');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, path: MUTATE_PATH }, 'injection webhook listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        unwatchFile(options.certFile);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

class BadReview extends Error {}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REVIEW_BYTES) throw new BadReview(`AdmissionReview larger than ${MAX_REVIEW_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
