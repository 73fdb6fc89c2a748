/**
 * The webhook's HTTPS handler over real TLS on loopback: AdmissionReview in, AdmissionReview
 * out. Pods that did not opt in are answered without any API call, so these cases run with a
 * kubeconfig whose API server is unreachable; the injecting path runs in test/e2e.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIDECAR_RESOURCES } from '../../../../operator/src/webhook/patch.ts';
import { DEFAULT_SIDECAR_IMAGE, sidecarOptionsFromEnv, startWebhook, type Webhook } from '../../../../operator/src/webhook/server.ts';
import { freePort, issueWebhookCertificate } from '../../../support/tls.ts';

const fixtures = fileURLToPath(new URL('../../../fixtures/admission/', import.meta.url));
const fixture = (name: string): string => readFileSync(`${fixtures}${name}.json`, 'utf8');
const dir = mkdtempSync(`${tmpdir()}/bindery-webhook-`);
let webhook: Webhook;
let ca: Buffer;

function call(method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: webhook.port, method, path, ca, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  const tls = await issueWebhookCertificate(dir);
  ca = readFileSync(tls.caFile);
  const kubeConfig = new KubeConfig();
  // Nothing listens there: a lookup fails at once, as when the API server is unreachable.
  const unreachable = `https://127.0.0.1:${await freePort()}`;
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'none', server: unreachable, skipTLSVerify: true }],
    users: [{ name: 'none', token: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  webhook = await startWebhook({
    port: 0,
    host: '127.0.0.1',
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    kubeConfig,
    logger: pino({ level: 'silent' }),
    sidecar: { image: 'bindery/bindery:0.1.0', resources: {} },
  });
});

afterAll(async () => {
  await webhook?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the webhook HTTPS handler', () => {
  it.each([
    ['unlabelled-pod', '0b1e6a52-0004-4d5e-9a31-000000000004'],
    ['label-false-pod', '0b1e6a52-0005-4d5e-9a31-000000000005'],
  ])('%s: allowed with no patch and no API call, echoing the uid', async (name, uid) => {
    const { status, json } = await call('POST', '/mutate', fixture(name));
    expect(status).toBe(200);
    expect(json).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
  });

  it('allows what is not a Pod CREATE untouched', async () => {
    const review = JSON.parse(fixture('deployment-pod')) as { request: Record<string, unknown> };
    review.request.operation = 'UPDATE';
    const { json } = await call('POST', '/mutate', JSON.stringify(review));
    expect(json.response).toEqual({ uid: '0b1e6a52-0001-4d5e-9a31-000000000001', allowed: true });
  });

  it('refuses an opted-in pod, saying why, when the namespace cannot be read', async () => {
    const { status, json } = await call('POST', '/mutate', fixture('deployment-pod'));
    expect(status).toBe(200);
    const response = json.response as { allowed: boolean; status: { code: number; message: string } };
    expect(response.allowed).toBe(false);
    expect(response.status.code).toBe(400);
    expect(response.status.message).toMatch(/^bindery: could not read the namespace's StreamBindings and Binders/);
  });

  it.each([
    ['GET', '/healthz', undefined, 200],
    ['GET', '/readyz', undefined, 200],
    ['GET', '/mutate', undefined, 405],
    ['POST', '/mutate', 'not json', 400],
    ['POST', '/mutate', '{"kind":"AdmissionReview"}', 400],
    ['POST', '/validate', '{}', 404],
  ])('%s %s %s answers %i', async (method, path, body, expected) => {
    expect((await call(method, path, body)).status).toBe(expected);
  });
});

describe('the sidecar the operator injects, from the env the chart sets', () => {
  it.each([
    [{}, { image: DEFAULT_SIDECAR_IMAGE, resources: DEFAULT_SIDECAR_RESOURCES }],
    [
      {
        BINDERY_SIDECAR_IMAGE: 'registry.example/bindery:1.2.3',
        BINDERY_SIDECAR_IMAGE_PULL_POLICY: 'Always',
        BINDERY_SIDECAR_RESOURCES: '{"requests":{"cpu":"10m"}}',
      },
      { image: 'registry.example/bindery:1.2.3', imagePullPolicy: 'Always', resources: { requests: { cpu: '10m' } } },
    ],
  ])('%j gives %j', (env, expected) => {
    expect(sidecarOptionsFromEnv(env)).toEqual(expected);
  });
});
