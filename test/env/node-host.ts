/**
 * What the test node changes on the machine, and how `down` takes it back: the pod bridge and
 * its routes, kernel settings, the KUBE-* and CNI-* iptables chains, the kubepods cgroups,
 * mounts under the node's directory, and the machine-wide lock that lets one checkout at a
 * time run a node.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podNetwork } from './pod-network.ts';
import { repoRoot } from './paths.ts';
import { isAlive, run } from './process.ts';

/** Machine-wide, not per cache or checkout: the node's bridge, iptables and cgroups are. */
const lockPath = '/run/lock/bindery-node.lock';

interface NodeHolder {
  checkout: string;
  pids: number[];
}

function readHolder(): NodeHolder | undefined {
  try {
    return JSON.parse(readFileSync(lockPath, 'utf8')) as NodeHolder;
  } catch {
    return undefined;
  }
}

/** Takes the machine's node for this checkout, or says which checkout runs it. */
export function takeMachineLock(pids: number[]): void {
  assertMachineFree();
  writeFileSync(lockPath, JSON.stringify({ checkout: repoRoot, pids } satisfies NodeHolder));
}

/** Throws, naming the holder, when another checkout runs this machine's node. */
export function assertMachineFree(): void {
  const holder = readHolder();
  if (holder && holder.checkout !== repoRoot && holder.pids.some(isAlive)) {
    throw new Error(`node: this machine's test node is run by the checkout ${holder.checkout} ` +
      `(processes ${holder.pids.filter(isAlive).join(', ')}; lock ${lockPath}). The node uses machine-wide ` +
      `resources (a bridge, iptables, cgroups), so one checkout at a time runs it: stop it there with ` +
      '`npm run env -- down node`, then try again');
  }
}

export function holdsMachineLock(): boolean {
  return readHolder()?.checkout === repoRoot;
}

export function releaseMachineLock(): void {
  if (holdsMachineLock()) rmSync(lockPath, { force: true });
}

async function ip(args: string[]): Promise<string> {
  return run({ command: 'ip', args, label: `ip ${args.join(' ')}` });
}

/**
 * The bridge exists before the first pod (the CNI plugin adopts it), so that cluster DNS and
 * the forwarder can listen on its address; ClusterIPs route through it, so the host (the API
 * server calling a webhook) reaches Services whatever its default route.
 */
export async function createBridge(serviceRange: string): Promise<void> {
  const links = await ip(['-o', 'link', 'show']);
  if (!links.includes(` ${podNetwork.bridge}:`)) await ip(['link', 'add', podNetwork.bridge, 'type', 'bridge']);
  const addresses = await ip(['-o', '-4', 'addr', 'show', 'dev', podNetwork.bridge]);
  if (!addresses.includes(`${podNetwork.gateway}/`)) await ip(['addr', 'add', `${podNetwork.gateway}/24`, 'dev', podNetwork.bridge]);
  await ip(['link', 'set', podNetwork.bridge, 'up']);
  await ip(['route', 'replace', serviceRange, 'dev', podNetwork.bridge, 'src', podNetwork.gateway]);
}

export async function deleteBridge(): Promise<void> {
  const links = await ip(['-o', 'link', 'show']);
  // Host ends of pod veths that CNI could not delete (their pods were not stopped through the kubelet).
  for (const match of links.matchAll(/^\d+: ([^@:\s]+)(?:@\S+)?: .* master (\S+)/gm)) {
    if (match[2] === podNetwork.bridge) await ip(['link', 'delete', match[1]!]).catch(() => undefined);
  }
  if (links.includes(` ${podNetwork.bridge}:`)) await ip(['link', 'delete', podNetwork.bridge]);
}

/** Kernel settings that the node (or kubelet and kube-proxy) change; recorded first, put back at `down`. */
const sysctls = [
  'net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables', 'net/ipv4/conf/all/route_localnet',
  'vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes',
];

export function recordSysctls(file: string): void {
  if (existsSync(file)) return;
  const values = Object.fromEntries(sysctls.filter((key) => existsSync(`/proc/sys/${key}`))
    .map((key) => [key, readFileSync(`/proc/sys/${key}`, 'utf8').trim()]));
  writeFileSync(file, JSON.stringify(values, null, 2));
}

export function setSysctl(key: string, value: string): void {
  writeFileSync(`/proc/sys/${key}`, value);
}

export function restoreSysctls(file: string): void {
  if (!existsSync(file)) return;
  const values = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  for (const [key, value] of Object.entries(values)) {
    try {
      if (readFileSync(`/proc/sys/${key}`, 'utf8').trim() !== value) writeFileSync(`/proc/sys/${key}`, value);
    } catch {
      // a setting this kernel does not have any more
    }
  }
  rmSync(file);
}

/**
 * Removes the chains kube-proxy, kubelet and the CNI bridge plugin add (KUBE-*, CNI-*) and the
 * rules that jump to them, in every table, for IPv4 and IPv6. One node per machine: these
 * prefixes are its own.
 */
export async function removeIptablesChains(): Promise<string[]> {
  const removed: string[] = [];
  for (const command of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = await run({ command, args: ['-w', '-t', table, '-S'] }).catch(() => '');
      const ours = (chain: string): boolean => /^(KUBE|CNI)-/.test(chain);
      for (const line of rules.split('\n')) {
        const rule = /^-A (\S+) (.*-j (\S+).*)$/.exec(line);
        if (rule && !ours(rule[1]!) && ours(rule[3]!)) {
          await run({ command, args: ['-w', '-t', table, '-D', rule[1]!, ...splitRule(rule[2]!)] }).catch(() => undefined);
        }
      }
      const chains = [...rules.matchAll(/^-N (\S+)$/gm)].map((m) => m[1]!).filter(ours);
      for (const chain of chains) await run({ command, args: ['-w', '-t', table, '-F', chain] }).catch(() => undefined);
      for (const chain of chains) {
        await run({ command, args: ['-w', '-t', table, '-X', chain] }).then(() => removed.push(`${command}/${table}/${chain}`), () => undefined);
      }
    }
  }
  return removed;
}

/** iptables -S quotes comments; turn a rule back into arguments. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!));
}

/** The kubepods cgroups kubelet made in each v1 hierarchy (and the unified one), deepest first. */
export function removeKubepodsCgroups(): string[] {
  const left: string[] = [];
  const root = '/sys/fs/cgroup';
  const remove = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) remove(join(dir, entry.name));
    }
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  };
  for (const hierarchy of readdirSync(root)) {
    const dir = join(root, hierarchy, 'kubepods');
    if (existsSync(dir)) remove(dir);
  }
  return left;
}

/** Unmounts everything mounted under `dir` (overlay snapshots, pod volumes), deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) {
    await run({ command: 'umount', args: [point] }).catch(() => run({ command: 'umount', args: ['-l', point] }).catch(() => undefined));
  }
}

/** Processes whose command line names `needle` (the node's containerd socket): its shims. */
export function processesNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** kubelet links each container's log into /var/log/containers; those pointing into `logsDir` go. */
export function removeContainerLogLinks(logsDir: string): void {
  const dir = '/var/log/containers';
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    try {
      if (readlinkSync(join(dir, entry)).startsWith(logsDir)) rmSync(join(dir, entry), { force: true });
    } catch {
      // not a link
    }
  }
}
