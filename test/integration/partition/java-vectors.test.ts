/**
 * The committed partition vectors (test/fixtures/java/partition-vectors.json), which the unit
 * tests hold Bindery to, are checked here against Java itself, Kafka's own murmur2 from the
 * kafka-clients jar and Jackson's reading of JSON values, from the test environment's Kafka.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const javaDir = fileURLToPath(new URL('../../fixtures/java/', import.meta.url));
const fixtureText = readFileSync(`${javaDir}partition-vectors.json`, 'utf8');

/**
 * kafka-clients, slf4j-api and Jackson jars of the test environment's Kafka (npm run env), or
 * of a Maven repository, so that murmur2 is computed by Kafka's own Utils.murmur2 and JSON
 * values are read by Jackson's own ObjectMapper.
 */
function javaClassPath(): string {
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'bindery');
  const libDirs = existsSync(cache)
    ? readdirSync(cache).filter((d) => /^kafka-\d/.test(d)).sort().reverse().map((d) => join(cache, d, 'libs'))
    : [];
  const wanted = [/^kafka-clients-[\d.]+\.jar$/, /^slf4j-api-.*\.jar$/, /^jackson-databind-[\d.]+\.jar$/, /^jackson-core-[\d.]+\.jar$/, /^jackson-annotations-[\d.]+\.jar$/];
  for (const dir of libDirs) {
    const jars = existsSync(dir) ? readdirSync(dir) : [];
    const found = wanted.map((pattern) => jars.find((j) => pattern.test(j)));
    if (found.every((jar) => jar !== undefined)) return found.map((jar) => join(dir, jar!)).join(':');
  }
  const m2 = join(homedir(), '.m2', 'repository');
  const inM2 = (group: string, artifact: string) => {
    const dir = join(m2, group, artifact);
    const version = existsSync(dir) ? readdirSync(dir).sort().reverse()[0] : undefined;
    return version && join(dir, version, `${artifact}-${version}.jar`);
  };
  const jars = [
    inM2('org/apache/kafka', 'kafka-clients'), inM2('org/slf4j', 'slf4j-api'), inM2('com/fasterxml/jackson/core', 'jackson-databind'),
    inM2('com/fasterxml/jackson/core', 'jackson-core'), inM2('com/fasterxml/jackson/core', 'jackson-annotations'),
  ];
  if (jars.every((jar) => jar && existsSync(jar))) return jars.join(':');
  throw new Error(`no kafka-clients and Jackson jars found (looked in ${cache}/kafka-*/libs and ${m2}): run npm run env -- up`);
}

describe('partition selection agrees with Java (test/fixtures/java/PartitionVectors.java)', () => {
  it('the committed vectors are what Java and kafka-clients print today', async () => {
    const { stdout } = await promisify(execFile)('java', ['-cp', javaClassPath(), 'PartitionVectors.java'], {
      cwd: javaDir,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(JSON.parse(stdout).murmur2Source).toMatch(/^org.apache.kafka.common.utils.Utils.murmur2 from kafka-clients-/);
    // The JVM's and the jar's versions are informational; every vector must match byte for byte.
    const strip = (s: string) => s.replace(/"javaVersion": "[^"]*"/, '').replace(/"murmur2Source": "[^"]*"/, '');
    expect(strip(stdout)).toBe(strip(fixtureText));
  });
});
