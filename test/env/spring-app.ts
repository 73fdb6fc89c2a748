/**
 * The Spring Cloud Stream service of the interoperability tests (test/fixtures/spring-app),
 * built with Maven from Maven Central into the shared cache, keyed by a hash of its sources: an
 * edit to the fixture builds it anew, every other run (and every other checkout) reuses it.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Progress } from './component.ts';
import { mvn } from './maven.ts';
import { cacheDir, logFile, repoRoot } from './paths.ts';
import { run, withLock } from './process.ts';

export const springAppSources = join(repoRoot, 'test', 'fixtures', 'spring-app');

export interface SpringAppBuild {
  /** The jar Spring Boot extracts next to its dependencies (lib/), which starts faster than the fat jar. */
  jar: string;
  /** Class data sharing archive of a start of the service: loads its classes from one mapped file. */
  classArchive: string;
}

/**
 * JVM settings for a short-lived test service on a 2-core machine: stop the JIT at C1, a
 * serial collector and a small heap. The class archive is recorded with the same settings,
 * which the JVM requires to use it.
 */
const jvmOptions = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xmx256m', '-Xss512k'];

/** `java` arguments before the Spring properties. */
export function springAppJavaArgs(build: SpringAppBuild): string[] {
  return [...jvmOptions, `-XX:SharedArchiveFile=${build.classArchive}`, '-jar', build.jar];
}

/** Hash of every file of the fixture (paths and contents), in a stable order. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        // target/ is what a hand-run `mvn package` leaves behind.
        if (entry.name !== 'target') walk(path);
        continue;
      }
      hash.update(`${relative(springAppSources, path)}\0`).update(readFileSync(path)).update('\0');
    }
  };
  walk(springAppSources);
  return hash.digest('hex').slice(0, 12);
}

/** Builds the service once per source hash; concurrent callers wait for the one that builds. */
export async function buildSpringApp(progress: Progress): Promise<SpringAppBuild> {
  const hash = sourceHash();
  const dir = join(cacheDir(), `spring-app-${hash}`);
  const build = { jar: join(dir, 'app', 'spring-app.jar'), classArchive: join(dir, 'app.jsa') };
  const complete = join(dir, '.complete');
  if (existsSync(complete)) return build;
  return withLock(`spring-app-${hash}`, async () => {
    if (existsSync(complete)) return build;
    const started = Date.now();
    rmSync(dir, { recursive: true, force: true });
    // Built from a copy: the checkout stays free of target/, and two checkouts never share one.
    const source = join(dir, 'source');
    cpSync(springAppSources, source, { recursive: true, filter: (path) => !path.startsWith(join(springAppSources, 'target')) });
    progress('spring-app: building the Spring Cloud Stream test service with Maven (first time: a few minutes)...');
    await mvn(join(source, 'pom.xml'), ['package'], progress, 'mvn package (spring-app)');
    await run({
      command: 'java', args: ['-Djarmode=tools', '-jar', join(source, 'target', 'spring-app.jar'), 'extract', '--destination', join(dir, 'app')],
      logPath: logFile('install'), label: 'spring-app: extract the jar',
    });
    progress('spring-app: recording its class data archive...');
    // Spring stops right after the context refresh: the classes of a start, no broker needed.
    await run({
      command: 'java',
      args: [...jvmOptions, `-XX:ArchiveClassesAtExit=${build.classArchive}`, '-Dspring.context.exit=onRefresh', '-jar', build.jar,
        '--spring.cloud.stream.default-binder=rabbit', '--spring.cloud.function.definition=receive'],
      logPath: logFile('install'), label: 'spring-app: record the class data archive',
    });
    rmSync(source, { recursive: true, force: true });
    writeFileSync(complete, `built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    progress(`spring-app: built in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
    return build;
  }, { dir: cacheDir() });
}
