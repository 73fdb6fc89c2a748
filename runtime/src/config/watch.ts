/**
 * Watches the runtime's config file and hands each changed, valid version to `onChange`.
 * The directory is watched rather than the file: editors replace files by renaming, and a
 * Kubernetes ConfigMap volume swaps a `..data` symlink, both of which a file watch misses.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

export function watchConfigFile(
  file: string,
  onText: (text: string) => Promise<void>,
  options: { debounceMs?: number; onError: (error: unknown) => void },
): ConfigWatcher {
  const debounceMs = options.debounceMs ?? 200;
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  let running: Promise<void> = Promise.resolve();
  void readFile(file, 'utf8').then((text) => (last ??= text), () => undefined);

  const check = (): void => {
    running = running.then(async () => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        // Mid-replace the file may be briefly missing; the next event brings it back.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') options.onError(error);
        return;
      }
      if (text === last) return;
      last = text;
      try {
        await onText(text);
      } catch (error) {
        options.onError(error);
      }
    });
  };

  const watcher: FSWatcher = watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed !== name && !String(changed).startsWith('..')) return;
    clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
  });
  watcher.on('error', options.onError);
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
