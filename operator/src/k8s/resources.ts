/**
 * Reads and writes of the bindery.io resources: status through the /status subresource
 * (PUT with the resourceVersion, retried on conflict against a fresh read) and finalizers
 * through a merge patch guarded by the resourceVersion.
 */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, VERSION, type ObjectMeta } from '../api/types.ts';
import { isConflict, isNotFound, mergePatch } from './client.ts';

export interface Resource<S = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  status?: S;
}

export class ResourceClient<T extends Resource> {
  constructor(
    private readonly custom: CustomObjectsApi,
    readonly plural: string,
  ) {}

  async read(namespace: string, name: string): Promise<T | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: this.plural, name })) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Writes the status that `compute` derives from the object, unless it returns undefined
   * (nothing changed). On a conflict the object is read again and `compute` runs on the fresh
   * copy, so a stale cache never overwrites a newer status. Returns the written object, or
   * undefined when nothing was written or the object is gone.
   */
  async writeStatusIfChanged(object: T, compute: (fresh: T) => T['status'] | undefined, attempts = 5): Promise<T | undefined> {
    let current: T | undefined = object;
    for (let attempt = 1; current; attempt += 1) {
      const { namespace, name } = current.metadata;
      const status = compute(current);
      if (status === undefined) return undefined;
      try {
        return (await this.custom.replaceNamespacedCustomObjectStatus({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: this.plural,
          name,
          body: { ...current, status },
        })) as T;
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (!isConflict(error) || attempt >= attempts) throw error;
        current = await this.read(namespace, name);
      }
    }
    return undefined;
  }

  /** Sets the finalizers; fails with a conflict if the object changed since it was read. */
  async setFinalizers(object: T, finalizers: string[]): Promise<T | undefined> {
    const { namespace, name, resourceVersion } = object.metadata;
    try {
      return (await this.custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: this.plural,
          name,
          body: { metadata: { finalizers, resourceVersion } },
        },
        mergePatch,
      )) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
