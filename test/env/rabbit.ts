import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall } from './apt.ts';
import type { Component, ComponentStatus, Progress } from './component.ts';
import { envDir, envPort, logFile, logsDir } from './paths.ts';
import { isAmqp, portOpen } from './probe.ts';
import { readPid, run, startDetached, stopByPidFile, waitUntilReady } from './process.ts';

const serverScript = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const ctlScript = '/usr/lib/rabbitmq/bin/rabbitmqctl';
const dataDir = join(envDir, 'rabbitmq');
const logPath = logFile('rabbit');
// Port offsets let a second checkout run its own node; Erlang needs a name of its own for it.
const nodeName = (): string => (envPort(0) === 0 ? 'bindery@localhost' : `bindery${envPort(0)}@localhost`);

export interface RabbitAddress {
  url: string;
  managementUrl: string;
  managementUser: string;
  managementPassword: string;
  host: string;
  port: number;
}

/** Where RabbitMQ is: RABBIT_URL (and RABBIT_MANAGEMENT_URL) when set, our own node otherwise. */
export function rabbitAddress(env: NodeJS.ProcessEnv = process.env): RabbitAddress {
  const given = env.RABBIT_URL;
  const url = new URL(given || `amqp://guest:guest@127.0.0.1:${envPort(5672, env)}`);
  const user = decodeURIComponent(url.username || 'guest');
  const password = decodeURIComponent(url.password || 'guest');
  const management = new URL(env.RABBIT_MANAGEMENT_URL || `http://${url.hostname}:${given ? 15672 : envPort(15672, env)}`);
  const managementUser = management.username ? decodeURIComponent(management.username) : user;
  const managementPassword = management.password ? decodeURIComponent(management.password) : password;
  management.username = '';
  management.password = '';
  return {
    url: url.toString(),
    managementUrl: management.toString().replace(/\/$/, ''),
    managementUser,
    managementPassword,
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'amqps:' ? 5671 : 5672)),
  };
}

async function overview(): Promise<{ rabbitmq_version?: string; erlang_version?: string } | undefined> {
  const address = rabbitAddress();
  const auth = Buffer.from(`${address.managementUser}:${address.managementPassword}`).toString('base64');
  try {
    const response = await fetch(`${address.managementUrl}/api/overview`, {
      headers: { authorization: `Basic ${auth}` },
      signal: AbortSignal.timeout(3_000),
    });
    if (!response.ok) return undefined;
    return (await response.json()) as { rabbitmq_version?: string };
  } catch {
    return undefined;
  }
}

/** Environment of our node: every path under test/.env, nothing read from /etc/rabbitmq. */
function nodeEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // The Erlang cookie lives in $HOME; the server and rabbitmqctl share it through this HOME.
    HOME: dataDir,
    RABBITMQ_NODENAME: nodeName(),
    RABBITMQ_USE_LONGNAME: 'false',
    RABBITMQ_CONF_ENV_FILE: join(dataDir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(dataDir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dataDir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dataDir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dataDir, 'mnesia'),
    RABBITMQ_LOG_BASE: logsDir,
    RABBITMQ_PID_FILE: join(dataDir, 'rabbit.pid'),
    // Keeps our node's distribution port away from a system node's default 25672.
    RABBITMQ_DIST_PORT: String(envPort(25772)),
  };
}

function writeConfig(): void {
  mkdirSync(join(dataDir, 'mnesia'), { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  writeFileSync(join(dataDir, 'rabbitmq-env.conf'), '');
  writeFileSync(join(dataDir, 'advanced.config'), '[].\n');
  writeFileSync(join(dataDir, 'enabled_plugins'), '[rabbitmq_management].\n');
  writeFileSync(join(dataDir, 'rabbitmq.conf'), [
    `listeners.tcp.1 = 127.0.0.1:${envPort(5672)}`,
    'management.tcp.ip = 127.0.0.1',
    `management.tcp.port = ${envPort(15672)}`,
    // guest may log in, from loopback only (RabbitMQ's default, stated so nobody widens it by accident)
    'loopback_users.guest = true',
    'log.file = rabbit.log',
    'log.file.level = info',
    'log.console = false',
    '',
  ].join('\n'));
}

export async function rabbitctl(args: string[]): Promise<string> {
  return run({ command: ctlScript, args: ['-n', nodeName(), ...args], env: nodeEnv() });
}

export const rabbit: Component = {
  name: 'rabbit',

  external() {
    return process.env.RABBIT_URL ? 'RABBIT_URL' : undefined;
  },

  async ensureInstalled(progress: Progress) {
    if (existsSync(serverScript)) return;
    mkdirSync(logsDir, { recursive: true });
    await aptInstall(['rabbitmq-server'], progress, logFile('install'));
  },

  async isUp() {
    const { host, port } = rabbitAddress();
    return (await isAmqp(host, port)) && (await overview()) !== undefined;
  },

  async start(progress: Progress) {
    const { host, port } = rabbitAddress();
    if (await portOpen(host, port)) {
      // Something answers on the AMQP port but is not (yet) a complete RabbitMQ with management:
      // starting a second node would only fail on the port, so wait for this one instead.
      progress(`rabbit: ${host}:${port} is taken; waiting for it to answer as RabbitMQ...`);
      await waitUntilReady({
        component: 'rabbit', what: 'AMQP and the management API answering', logPath,
        timeoutMs: 60_000, ready: () => rabbit.isUp(),
      });
      return;
    }
    writeConfig();
    progress(`rabbit: starting RabbitMQ node ${nodeName()}...`);
    const pid = startDetached({ name: 'rabbit', command: serverScript, args: [], env: nodeEnv(), cwd: dataDir, logPath });
    await waitUntilReady({
      component: 'rabbit', what: `AMQP on ${port} and the management API answering`, logPath,
      timeoutMs: 120_000, pid, ready: () => rabbit.isUp(),
    });
  },

  async stop() {
    await stopByPidFile('rabbit', 30_000);
  },

  async kill() {
    await stopByPidFile('rabbit', 0);
  },

  async status(): Promise<ComponentStatus> {
    const address = rabbitAddress();
    const info = await overview();
    const up = info !== undefined && (await isAmqp(address.host, address.port));
    return {
      up,
      version: info?.rabbitmq_version ? `RabbitMQ ${info.rabbitmq_version}` : 'unknown',
      address: `amqp://${address.host}:${address.port} (management ${address.managementUrl})`,
    };
  },
};

/** True when the broker on the address is the node this environment started. */
export function rabbitIsOurs(): boolean {
  return readPid('rabbit') !== undefined && !rabbit.external();
}
