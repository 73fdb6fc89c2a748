import { join } from 'node:path';
import { aptInstall } from './apt.ts';
import type { Progress } from './component.ts';
import { cacheDir, logFile } from './paths.ts';
import { onPath, run } from './process.ts';

/**
 * Runs Maven on one of the environment's POMs, installing Maven from Debian when it is
 * missing. Every run shares one local repository in the cache, so that what one build
 * downloaded from Maven Central serves the next one and every checkout.
 */
export async function mvn(pom: string, args: string[], progress: Progress, label: string): Promise<void> {
  if (!onPath('mvn')) await aptInstall(['maven'], progress, logFile('install'));
  await run({
    command: 'mvn',
    args: ['-q', '-B', '-f', pom, `-Dmaven.repo.local=${join(cacheDir(), 'maven-repository')}`, ...args],
    logPath: logFile('install'), progress, label,
  });
}
