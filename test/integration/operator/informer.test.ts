/** The supervised informer on the real API server: a failed list or watch is retried, with back-off. */
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SupervisedInformer } from '../../../operator/src/k8s/informer.ts';
import { ExponentialBackoff } from '../../../operator/src/k8s/queue.ts';
import { createNamespace, deleteNamespace, kube, quietLogger, waitFor } from './support.ts';

let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace('informer');
});

afterAll(async () => {
  await deleteNamespace(namespace);
});

it('restarts after its list fails, then sees changes', async () => {
  const { kubeConfig } = kube();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  let failures = 2;
  const informer = new SupervisedInformer<V1ConfigMap>({
    name: 'configmaps',
    kubeConfig,
    logger: quietLogger,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: async () => {
      if (failures > 0) {
        failures -= 1;
        throw new Error('the API server is away');
      }
      return core.listNamespacedConfigMap({ namespace });
    },
    backoff: new ExponentialBackoff(50, 1000),
  });
  const seen: string[] = [];
  informer.onChange((cm, event) => seen.push(`${event}:${cm.metadata?.name}`));
  try {
    await informer.start();
    await waitFor('the informer to sync', async () => {
      await informer.whenSynced();
      return true;
    });
    expect(informer.restarts).toBe(2);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'watched' }, data: { a: '1' } } });
    await waitFor('the add event', () => seen.includes('add:watched'));
    expect(informer.get('watched', namespace)?.data).toEqual({ a: '1' });
  } finally {
    await informer.stop();
  }
});
