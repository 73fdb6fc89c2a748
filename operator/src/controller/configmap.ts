/**
 * Keeps one `bindery-config` ConfigMap per namespace in step with its Binders and
 * StreamBindings. Keyed by namespace: many changes in one namespace collapse into one write,
 * and a write happens only when the rendered text differs from what is there.
 */
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { CONFIG_MAP_KEY, CONFIG_MAP_NAME, renderConfig } from '../render/sidecar-config.ts';
import { isAlreadyExists, isNotFound } from '../k8s/client.ts';
import type { BinderLister } from './binders.ts';
import { done, type Outcome } from './controller.ts';
import type { StreamBindingLister } from './streambinding.ts';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'bindery-operator' };

export class ConfigMapWriter {
  readonly name = 'configmap';

  constructor(
    private readonly core: CoreV1Api,
    private readonly binders: BinderLister,
    private readonly bindings: StreamBindingLister,
  ) {}

  async reconcile(namespace: string): Promise<Outcome> {
    const binders = this.binders.list(namespace);
    const bindings = this.bindings.list(namespace);
    const existing = await this.read(namespace);
    if (binders.length === 0 && bindings.length === 0) {
      if (existing && existing.metadata?.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY['app.kubernetes.io/managed-by']) {
        await this.core.deleteNamespacedConfigMap({ namespace, name: CONFIG_MAP_NAME }).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        });
      }
      return done;
    }
    const text = renderConfig(binders, bindings);
    if (existing?.data?.[CONFIG_MAP_KEY] === text) return done;
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CONFIG_MAP_NAME, namespace, labels: { ...MANAGED_BY }, resourceVersion: existing?.metadata?.resourceVersion },
      data: { [CONFIG_MAP_KEY]: text },
    };
    if (existing) {
      await this.core.replaceNamespacedConfigMap({ namespace, name: CONFIG_MAP_NAME, body });
    } else {
      try {
        await this.core.createNamespacedConfigMap({ namespace, body });
      } catch (error) {
        // Created meanwhile (another writer, or a retry): the next pass compares and replaces.
        if (isAlreadyExists(error)) return { kind: 'error', error };
        throw error;
      }
    }
    return done;
  }

  private async read(namespace: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ namespace, name: CONFIG_MAP_NAME });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
