import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ApiException, ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';
import { waitFor } from '../../support/wait.ts';

const exec = promisify(execFile);
const tinyChart = fileURLToPath(new URL('../../fixtures/tiny-chart', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const namespace = `smoke-${suffix}`;

describe('Kubernetes API of the test environment', () => {
  const config = new KubeConfig();
  config.loadFromFile(testEnv().kubeconfig);
  const core = config.makeApiClient(CoreV1Api);

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  it('serves the pinned version', async () => {
    const { stdout } = await exec(testEnv().kubectl, ['--kubeconfig', testEnv().kubeconfig, 'version', '-o', 'json']);
    const versions = JSON.parse(stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    expect(versions.serverVersion.gitVersion).toBe(testEnv().kubernetesVersion);
    expect(versions.clientVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
  });

  it('applies a CRD, stores an object of it, and refuses one that violates its schema', async () => {
    const group = `smoke-${suffix}.bindery.test`;
    const crds = config.makeApiClient(ApiextensionsV1Api);
    const name = `widgets.${group}`;
    await crds.createCustomResourceDefinition({
      body: {
        metadata: { name },
        spec: {
          group, scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [{
            name: 'v1', served: true, storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: {
              type: 'object', required: ['size'],
              properties: { size: { type: 'integer', minimum: 1 } },
            } } } },
          }],
        },
      },
    });
    try {
      await waitFor('the CRD to be established', async () => {
        const crd = await crds.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? crd : undefined;
      }, 30_000);
      const objects = config.makeApiClient(CustomObjectsApi);
      const ref = { group, version: 'v1', namespace, plural: 'widgets' };
      // Discovery of a new group can lag its Established condition by a moment.
      await waitFor('the widget to be created', () => objects.createNamespacedCustomObject({
        ...ref, body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'small' }, spec: { size: 2 } },
      }), 30_000);
      const read = await objects.getNamespacedCustomObject({ ...ref, name: 'small' }) as { spec: { size: number } };
      expect(read.spec.size).toBe(2);

      const refused = await objects.createNamespacedCustomObject({
        ...ref, body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'broken' }, spec: { size: 'big' } },
      }).then(() => undefined, (error: unknown) => error);
      expect(refused).toBeInstanceOf(ApiException);
      expect((refused as ApiException<string>).code).toBe(422);
      expect(String((refused as ApiException<string>).body)).toContain('spec.size');
    } finally {
      await crds.deleteCustomResourceDefinition({ name }).catch(() => {});
    }
  });

  it('gives a Deployment its ReplicaSet and Pods (which stay Pending without nodes)', async () => {
    const apps = config.makeApiClient(AppsV1Api);
    const labels = { app: 'smoke' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.invalid/smoke:1' }] } },
        },
      },
    });
    const pods = await waitFor('two pods', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=smoke' });
      return list.items.length === 2 ? list.items : undefined;
    }, 30_000);
    expect(pods.map((p) => p.status?.phase)).toEqual(['Pending', 'Pending']);
    expect(pods.every((p) => p.metadata?.ownerReferences?.[0]?.kind === 'ReplicaSet')).toBe(true);
  });

  it('answers kubectl get', async () => {
    const { stdout } = await exec(testEnv().kubectl, ['--kubeconfig', testEnv().kubeconfig, 'get', 'namespace', namespace, '-o', 'jsonpath={.status.phase}']);
    expect(stdout).toBe('Active');
  });

  it('renders a chart with helm template and installs it with helm install', async () => {
    const { helm, kubeconfig } = testEnv();
    const { stdout: rendered } = await exec(helm, ['template', 'tiny', tinyChart, '--set', 'greeting=hi']);
    expect(rendered).toContain('name: tiny-greeting');
    expect(rendered).toContain('greeting: "hi"');

    await exec(helm, ['install', 'tiny', tinyChart, '--kubeconfig', kubeconfig, '--namespace', namespace]);
    const map = await core.readNamespacedConfigMap({ namespace, name: 'tiny-greeting' });
    expect(map.data).toEqual({ greeting: 'hello', kubeVersion: testEnv().kubernetesVersion });
    const { stdout: releases } = await exec(helm, ['list', '--kubeconfig', kubeconfig, '--namespace', namespace, '-o', 'json']);
    expect(JSON.parse(releases)).toEqual([expect.objectContaining({ name: 'tiny', status: 'deployed' })]);
  });
});
