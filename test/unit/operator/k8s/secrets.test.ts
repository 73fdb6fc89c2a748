import { describe, expect, it } from 'vitest';
import type { V1Secret } from '@kubernetes/client-node';
import { SecretReader } from '../../../../operator/src/k8s/secrets.ts';
import { FakeClock } from '../../../support/fake-clock.ts';

/** The one API call the reader makes, answering from `secrets` and counting the calls. */
function fakeCore(secrets: Record<string, V1Secret | Error>) {
  const calls: string[] = [];
  return {
    calls,
    readNamespacedSecret: async ({ name, namespace }: { name: string; namespace: string }) => {
      const key = `${namespace}/${name}`;
      calls.push(key);
      const found = secrets[key];
      if (found instanceof Error) throw found;
      if (!found) throw Object.assign(new Error('not found'), { code: 404 });
      return found;
    },
  };
}

const secret = (password: string): V1Secret => ({ data: { password: Buffer.from(password).toString('base64') } });

describe('SecretReader: only the Secrets asked for, by name, reused briefly', () => {
  it('reuses a read within its window, and reads again after it or when asked for a fresh one', async () => {
    const clock = new FakeClock();
    const core = fakeCore({ 'shop/creds': secret('a') });
    const reader = new SecretReader(core as never, 5_000, clock);
    await reader.get('creds', 'shop');
    await reader.get('creds', 'shop');
    expect(core.calls).toEqual(['shop/creds']);
    await reader.get('creds', 'shop', { fresh: true });
    expect(core.calls).toHaveLength(2);
    await clock.advance(5_000);
    await reader.get('creds', 'shop');
    expect(core.calls).toHaveLength(3);
  });

  it('a missing Secret reads as undefined; a failed read is not reused', async () => {
    const core = fakeCore({ 'shop/broken': new Error('API server unavailable') });
    const reader = new SecretReader(core as never, 5_000, new FakeClock());
    expect(await reader.get('absent', 'shop')).toBeUndefined();
    await expect(reader.get('broken', 'shop')).rejects.toThrow('API server unavailable');
    await expect(reader.get('broken', 'shop')).rejects.toThrow('API server unavailable');
    expect(core.calls).toEqual(['shop/absent', 'shop/broken', 'shop/broken']);
  });
});
