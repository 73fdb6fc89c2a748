import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ComponentStartError, type Component, type ComponentStatus, type Progress } from './component.ts';
import { mvn } from './maven.ts';
import { cacheDir, envDir, envPort, logFile, repoRoot } from './paths.ts';
import { podNetwork } from './pod-network.ts';
import { isKafka, portOpen } from './probe.ts';
import { readPid, run, startDetached, stopByPidFile, waitUntilReady, withLock } from './process.ts';

const logPath = logFile('kafka');
const heap = '-Xmx512m';
const brokerPort = (): number => envPort(9092);
const controllerPort = (): number => envPort(9093);
/**
 * Pods cannot reach loopback: they bootstrap through the node's forwarder on the pod network's
 * gateway, and this listener advertises that address, so their connections keep going there.
 */
export const kafkaPodPort = (): number => envPort(9094);

export function kafkaVersion(): string {
  return process.env.KAFKA_VERSION || '3.9.1';
}

/** The bootstrap brokers: KAFKA_BROKERS (comma list) when set, our own node otherwise. */
export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string[] {
  const given = env.KAFKA_BROKERS;
  if (!given) return [`127.0.0.1:${envPort(9092, env)}`];
  return given.split(',').map((b) => b.trim()).filter(Boolean);
}

function libsDir(version: string): string {
  return join(cacheDir(), `kafka-${version}`, 'libs');
}

/** Data of each release apart: a 4.x node cannot be started on 3.x storage and back again. */
function dataDir(version: string): string {
  return join(envDir, `kafka-${version}`);
}

const versionFile = join(envDir, 'kafka-version');

function major(version: string): number {
  return Number.parseInt(version.split('.')[0] ?? '3', 10);
}

function hostPort(broker: string): { host: string; port: number } {
  const index = broker.lastIndexOf(':');
  return { host: broker.slice(0, index), port: Number(broker.slice(index + 1)) };
}

function writeConfig(version: string): { properties: string; logging: string[] } {
  const dir = dataDir(version);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const properties = join(dir, 'server.properties');
  writeFileSync(properties, [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort()}`,
    `listeners=PLAINTEXT://127.0.0.1:${brokerPort()},CONTROLLER://127.0.0.1:${controllerPort()},PODS://127.0.0.1:${kafkaPodPort()}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${brokerPort()},PODS://${podNetwork.gateway}:${kafkaPodPort()}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PODS:PLAINTEXT',
    `log.dirs=${join(dir, 'data')}`,
    'num.partitions=1',
    // one node: internal topics cannot have more replicas than that
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // a consumer group forms at once instead of waiting 3 s for more members
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n'));
  // Logs go to stdout, which the environment appends to test/.env/logs/kafka.log.
  if (major(version) >= 4) {
    const file = join(dir, 'log4j2.properties');
    writeFileSync(file, [
      'appender.out.type=Console',
      'appender.out.name=out',
      'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d] %p %m (%c)%n',
      'rootLogger.level=INFO',
      'rootLogger.appenderRef.out.ref=out',
      'logger.state.name=state.change.logger',
      'logger.state.level=WARN',
      '',
    ].join('\n'));
    return { properties, logging: [`-Dlog4j2.configurationFile=${file}`] };
  }
  const file = join(dir, 'log4j.properties');
  writeFileSync(file, [
    'log4j.rootLogger=INFO, out',
    'log4j.appender.out=org.apache.log4j.ConsoleAppender',
    'log4j.appender.out.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    '',
  ].join('\n'));
  return { properties, logging: [`-Dlog4j.configuration=file:${file}`] };
}

function javaArgs(version: string, logging: string[], mainClass: string, args: string[]): string[] {
  return [heap, '-XX:+UseG1GC', '-Djava.awt.headless=true', ...logging,
    '-cp', `${libsDir(version)}/*`, mainClass, ...args];
}

/**
 * Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding; like Kafka's own
 * Uuid.randomUuid, never one starting with '-', which the format command would read as an option.
 */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function metadataAnswers(): Promise<{ clusterId: string } | undefined> {
  const admin = new Kafka({
    clientId: 'bindery-env', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000, requestTimeout: 5_000, retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 ? { clusterId: cluster.clusterId } : undefined;
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function resolveJars(version: string, progress: Progress): Promise<void> {
  const libs = libsDir(version);
  const complete = join(libs, '.complete');
  if (existsSync(complete)) return;
  rmSync(libs, { recursive: true, force: true });
  progress(`kafka: resolving Kafka ${version} jars from Maven Central (first time: about a minute)...`);
  await mvn(join(repoRoot, 'test', 'env', 'kafka', 'pom.xml'), [
    `-P${major(version) >= 4 ? 'kafka-4' : 'kafka-3'}`, `-Dkafka.version=${version}`,
    'dependency:copy-dependencies', `-DoutputDirectory=${libs}`,
  ], progress, `mvn dependency:copy-dependencies (Kafka ${version})`);
  const jars = readdirSync(libs).filter((f) => f.endsWith('.jar'));
  if (!jars.some((f) => f.startsWith(`kafka_2.13-${version}`))) {
    throw new Error(`kafka: Maven did not deliver kafka_2.13-${version}.jar into ${libs} (see ${logFile('install')})`);
  }
  writeFileSync(complete, `${jars.length} jars\n`);
}

const readyTopic = 'bindery-env-ready';

/**
 * Ready means a write is acknowledged: after a restart the broker answers metadata requests
 * before it leads its partitions again, and clients then see "not the leader".
 */
async function acceptsWrites(): Promise<boolean> {
  const client = new Kafka({
    clientId: 'bindery-env', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000, requestTimeout: 5_000, retry: { retries: 0 },
  });
  const admin = client.admin();
  const producer = client.producer({ allowAutoTopicCreation: false });
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: readyTopic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: false });
    await producer.connect();
    await producer.send({ topic: readyTopic, acks: -1, messages: [{ value: 'ready' }] });
    return true;
  } catch {
    return false;
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

export const kafka: Component = {
  name: 'kafka',

  external() {
    return process.env.KAFKA_BROKERS ? 'KAFKA_BROKERS' : undefined;
  },

  async ensureInstalled(progress: Progress) {
    const version = kafkaVersion();
    const libs = libsDir(version);
    const complete = join(libs, '.complete');
    if (existsSync(complete)) return;
    // Checkouts share the cache: one resolves while the others wait for it.
    await withLock(`kafka-${version}`, () => resolveJars(version, progress), { dir: cacheDir() });
  },
  async isUp() {
    const brokers = kafkaBrokers();
    const { host, port } = hostPort(brokers[0]!);
    if (!kafka.external() && !(await isKafka('127.0.0.1', kafkaPodPort()))) return false;
    return isKafka(host, port);
  },

  async start(progress: Progress) {
    if (await isKafka('127.0.0.1', brokerPort()) && !(await portOpen('127.0.0.1', kafkaPodPort()))) {
      // A broker this checkout started before pods had a listener: restart it with the new one,
      // as the API server is restarted when its flags changed. Someone else's broker is theirs.
      if (readPid('kafka') !== undefined) {
        progress('kafka: the running broker has no listener for pods; restarting it...');
        await stopByPidFile('kafka', 30_000);
      }
    }
    if (await isKafka('127.0.0.1', brokerPort()) && !(await portOpen('127.0.0.1', kafkaPodPort()))) {
      throw new ComponentStartError('kafka', `the broker on 127.0.0.1:${brokerPort()} has no listener for pods on ` +
        `127.0.0.1:${kafkaPodPort()} (not started by this checkout); stop it with \`npm run env -- down kafka\` and start it again`,
      logPath, '(nothing started)');
    }
    if (await portOpen('127.0.0.1', brokerPort())) {
      progress(`kafka: 127.0.0.1:${brokerPort()} is taken; waiting for it to answer as Kafka...`);
      await waitUntilReady({
        component: 'kafka', what: 'a write acknowledged', logPath, timeoutMs: 60_000, ready: acceptsWrites,
      });
      return;
    }
    const version = kafkaVersion();
    const dir = dataDir(version);
    const { properties, logging } = writeConfig(version);
    if (!existsSync(join(dir, 'data', 'meta.properties'))) {
      progress(`kafka: formatting KRaft storage in ${dir}...`);
      await run({
        command: 'java',
        args: javaArgs(version, logging, 'kafka.tools.StorageTool',
          ['format', `--cluster-id=${newClusterId()}`, '--config', properties, '--ignore-formatted']),
        logPath, label: 'kafka StorageTool format',
      });
    }
    progress(`kafka: starting Kafka ${version} (KRaft, broker+controller)...`);
    const pid = startDetached({
      name: 'kafka', command: 'java',
      args: javaArgs(version, logging, 'kafka.Kafka', [properties]),
      cwd: dir, logPath,
    });
    writeFileSync(versionFile, version);
    await waitUntilReady({
      component: 'kafka', what: `a write acknowledged on 127.0.0.1:${brokerPort()}`, logPath,
      timeoutMs: 120_000, pid, ready: acceptsWrites,
    });
  },

  async stop() {
    await stopByPidFile('kafka', 30_000);
  },

  async kill() {
    await stopByPidFile('kafka', 0);
  },

  async status(): Promise<ComponentStatus> {
    const up = (await kafka.isUp()) && (await metadataAnswers()) !== undefined;
    let version = 'unknown';
    if (!kafka.external()) {
      try {
        version = `Kafka ${readFileSync(versionFile, 'utf8').trim()} (KRaft)`;
      } catch {
        version = `Kafka ${kafkaVersion()} (KRaft)`;
      }
    }
    return { up, version, address: kafkaBrokers().join(',') };
  },
};
