/**
 * The `node` component: a real Kubernetes node of the environment's API server on this
 * machine. containerd and runc (Debian's), the CNI bridge, kubelet with its own certificate,
 * kube-proxy (iptables), kube-scheduler and CoreDNS, all built from the pinned modules; the
 * Bindery image built here (test/env/node-images.ts). The node is tainted: only pods that
 * tolerate it run there, so other tests' pods stay Pending. It uses machine-wide resources, so
 * one checkout at a time runs it (test/env/node-host.ts).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from './apt.ts';
import type { Component, ComponentStatus, Progress } from './component.ts';
import { kafkaPodPort } from './kafka.ts';
import { goBuild, moduleKey, pinned } from './go-build.ts';
import {
  apiPort, ensureKubeBinaries, kubeBin, kubeconfigYaml, kubectlPath, kubernetes, kubernetesPinnedVersion,
  ownKubeconfig, pki, serviceRange,
} from './kubernetes.ts';
import { containerdConfig, cniConfig, corefile, kubeletConfig, kubeProxyConfig, nodeTaint, ports, type NodePaths } from './node-config.ts';
import {
  assertMachineFree, createBridge, deleteBridge, holdsMachineLock, processesNaming, recordSysctls, releaseMachineLock, removeContainerLogLinks,
  removeIptablesChains, removeKubepodsCgroups, restoreSysctls, setSysctl, takeMachineLock, unmountUnder,
} from './node-host.ts';
import { binderyImage, ensureImages, imageBuildPackages, pauseImageTar, type NodeImage } from './node-images.ts';
import { cacheDir, envDir, envPort, logFile, repoRoot } from './paths.ts';
import { client, issue, serving } from './pki.ts';
import { podNetwork } from './pod-network.ts';
import { portOpen } from './probe.ts';
import { isAlive, readPid, run, sleep, startDetached, stopByPidFile, waitUntilReady } from './process.ts';

const dir = join(envDir, 'node');
const pkiDir = join(dir, 'pki');
/** The API server reaches kubelets by the Hostname address too: the machine's own name resolves. */
export const nodeName = hostname().toLowerCase();
const corednsModule = join(repoRoot, 'test', 'env', 'coredns');

const paths: NodePaths = {
  dir,
  containerdRoot: join(cacheDir(), 'node', 'containerd'),
  containerdSocket: join(dir, 'containerd', 'containerd.sock'),
  cniConfDir: join(dir, 'cni', 'net.d'),
  cniBinDir: '/usr/lib/cni',
  kubeletDir: join(dir, 'kubelet'),
  podLogsDir: join(dir, 'pod-logs'),
  kubeletKubeconfig: join(dir, 'kubelet.kubeconfig'),
  kubeletCert: join(pkiDir, 'kubelet-serving.crt'),
  kubeletKey: join(pkiDir, 'kubelet-serving.key'),
  caCert: pki().caCert,
  proxyKubeconfig: join(dir, 'kube-proxy.kubeconfig'),
  dnsKubeconfig: join(dir, 'coredns.kubeconfig'),
};
const importedFile = join(paths.containerdRoot, 'imported.json');
const sysctlFile = join(dir, 'sysctls.json');
/** The processes of the node, in start order. */
const processNames = ['containerd', 'node-forward', 'kubelet', 'kube-proxy', 'coredns', 'kube-scheduler'] as const;
const debianPackages: Array<[string, string]> = [
  ['containerd', '/usr/bin/containerd'], ['runc', '/usr/sbin/runc'], ['containernetworking-plugins', '/usr/lib/cni/bridge'],
  ['iptables', '/usr/sbin/iptables'], ['conntrack', '/usr/sbin/conntrack'],
];

function corednsBinDir(): string {
  return join(cacheDir(), `coredns-${pinned(corednsModule, 'github.com/coredns/coredns')}-${moduleKey(corednsModule)}`, 'bin');
}

const kubectl = (args: string[]): Promise<string> =>
  run({ command: kubectlPath(), args: ['--kubeconfig', ownKubeconfig, ...args], label: `kubectl ${args.slice(0, 3).join(' ')}` });

async function nodeReady(): Promise<boolean> {
  const out = await kubectl(['get', 'node', nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).catch(() => '');
  return out.trim() === 'True';
}

async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

const kubeletHealthy = (): Promise<boolean> => httpOk(`http://127.0.0.1:${ports.kubeletHealthz}/healthz`);
const proxyHealthy = (): Promise<boolean> => httpOk(`http://127.0.0.1:${ports.proxyHealthz}/healthz`);
const dnsReady = (): Promise<boolean> => httpOk(`http://127.0.0.1:${ports.dnsReady}/ready`);

function importedImages(): string[] {
  try {
    return JSON.parse(readFileSync(importedFile, 'utf8')) as string[];
  } catch {
    return [];
  }
}

async function ensureCertificates(): Promise<void> {
  const ca = pki();
  const p = { ...ca, dir: pkiDir };
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const want = (name: string): boolean => !existsSync(join(pkiDir, `${name}.crt`));
  const cert = (name: string): [string, string] => [join(pkiDir, `${name}.crt`), join(pkiDir, `${name}.key`)];
  // The Node authorizer knows a kubelet by this name and group.
  if (want('kubelet')) await issue(p, 'kubelet', `/O=system:nodes/CN=system:node:${nodeName}`, client, ...cert('kubelet'));
  if (want('kubelet-serving')) {
    await issue(p, 'kubelet-serving', `/CN=${nodeName}`, serving([`DNS:${nodeName}`, `IP:${podNetwork.gateway}`]), ...cert('kubelet-serving'));
  }
  // RBAC's bootstrap policy grants kube-proxy and the scheduler their rights by these user names.
  if (want('kube-proxy')) await issue(p, 'kube-proxy', '/CN=system:kube-proxy', client, ...cert('kube-proxy'));
  if (want('kube-scheduler')) await issue(p, 'kube-scheduler', '/CN=system:kube-scheduler', client, ...cert('kube-scheduler'));
  if (want('coredns')) await issue(p, 'coredns', '/CN=bindery:coredns', client, ...cert('coredns'));
  const kubeconfig = (file: string, user: string, name: string): void =>
    writeFileSync(file, kubeconfigYaml(user, ...cert(name)), { mode: 0o600 });
  kubeconfig(paths.kubeletKubeconfig, `system:node:${nodeName}`, 'kubelet');
  kubeconfig(paths.proxyKubeconfig, 'system:kube-proxy', 'kube-proxy');
  kubeconfig(paths.dnsKubeconfig, 'bindery:coredns', 'coredns');
  kubeconfig(join(dir, 'kube-scheduler.kubeconfig'), 'system:kube-scheduler', 'kube-scheduler');
}

/** What cluster DNS may read, and the `kubernetes` Service's endpoint: pods reach the API server through the forwarder. */
function clusterObjects(): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "bindery:coredns" }
rules:
  - { apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch] }
  - { apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "bindery:coredns" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "bindery:coredns" }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "bindery:coredns" }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: { kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: bindery.io-test-node }
addressType: IPv4
endpoints: [{ addresses: ["${podNetwork.gateway}"], conditions: { ready: true } }]
ports: [{ name: https, port: ${apiPort}, protocol: TCP }]
`;
}

function writeConfigs(): void {
  for (const sub of ['containerd', 'cni/net.d', 'kubelet', 'pod-logs']) mkdirSync(join(dir, sub), { recursive: true });
  // Only what changed is written: kube-proxy exits when its configuration file is touched.
  const write = (file: string, content: string): void => {
    if (!existsSync(file) || readFileSync(file, 'utf8') !== content) writeFileSync(file, content);
  };
  write(join(dir, 'containerd.toml'), containerdConfig(paths));
  write(join(paths.cniConfDir, '10-bindery.conflist'), cniConfig(paths));
  write(join(dir, 'kubelet.yaml'), kubeletConfig(paths));
  write(join(dir, 'kube-proxy.yaml'), kubeProxyConfig(paths, nodeName));
  write(join(dir, 'Corefile'), corefile(paths));
  write(join(dir, 'cluster-objects.yaml'), clusterObjects());
}

const ctr = (args: string[], label?: string): Promise<string> =>
  run({ command: 'ctr', args: ['--address', paths.containerdSocket, '--namespace', 'k8s.io', ...args], label, logPath: logFile('containerd') });

async function importImages(progress: Progress, images: NodeImage[]): Promise<void> {
  const done = importedImages();
  for (const image of images) {
    if (done.includes(image.tar)) continue;
    progress(`node: importing ${image.name} into containerd...`);
    await ctr(['images', 'import', image.tar], `ctr images import ${image.name}`);
    done.push(image.tar);
    writeFileSync(importedFile, JSON.stringify(done));
  }
}

/** Starts a node process unless it runs; waits for `ready`. */
async function ensureProcess(
  progress: Progress, name: typeof processNames[number], command: string, args: string[], ready: () => Promise<boolean>, timeoutMs = 120_000,
): Promise<void> {
  const running = readPid(name);
  if (running !== undefined && isAlive(running) && (await ready())) return;
  if (running !== undefined) await stopByPidFile(name);
  progress(`node: starting ${name}...`);
  const logPath = logFile(name);
  const pid = startDetached({ name, command, args, logPath, cwd: dir });
  takeMachineLock(livePids());
  await waitUntilReady({ component: name, what: `${name} ready`, logPath, timeoutMs, pid, ready });
}

function livePids(): number[] {
  return processNames.map((name) => readPid(name)).filter((pid): pid is number => pid !== undefined && isAlive(pid));
}

export const node: Component = {
  name: 'node',

  external() {
    // A cluster given by KUBECONFIG brings its own nodes.
    return kubernetes.external();
  },

  async ensureInstalled(progress: Progress) {
    assertMachineFree();
    // One apt run: docker.io and busybox only build images, so only when one is missing.
    const building = ![pauseImageTar(), binderyImage()].every((image) => existsSync(image.tar));
    const missing = [...debianPackages, ...(building ? imageBuildPackages : [])]
      .filter(([, file]) => !existsSync(file)).map(([name]) => name);
    if (missing.length > 0) await aptInstall(missing, progress, logFile('install'));
    // The images build while Go compiles: the one uses the network and the disk, the other the CPUs.
    await Promise.all([
      ensureImages(progress),
      ensureKubeBinaries(progress),
      goBuild(progress, {
        moduleDir: corednsModule, packages: ['.'], binDir: corednsBinDir(), ldflags: [],
        what: `CoreDNS ${pinned(corednsModule, 'github.com/coredns/coredns')}`,
      }),
    ]);
  },

  async isUp() {
    if (node.external()) return true;
    if (!holdsMachineLock() || livePids().length !== processNames.length) return false;
    // An image whose inputs changed since it was imported is built and imported again.
    if (![pauseImageTar(), binderyImage()].every((image) => importedImages().includes(image.tar))) return false;
    return (await kubeletHealthy()) && (await proxyHealthy()) && (await dnsReady()) && (await nodeReady());
  },

  async start(progress: Progress) {
    takeMachineLock(livePids().length > 0 ? livePids() : [process.pid]);
    await waitUntilReady({
      component: 'node', what: 'the API server answering (the kubernetes component)', logPath: logFile('kube-apiserver'),
      timeoutMs: 600_000, ready: () => kubernetes.isUp(),
    });
    mkdirSync(dir, { recursive: true });
    recordSysctls(sysctlFile);
    setSysctl('net/ipv4/ip_forward', '1');
    if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) setSysctl('net/bridge/bridge-nf-call-iptables', '1');
    await createBridge(serviceRange);
    await ensureCertificates();
    writeConfigs();
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(dir, 'cluster-objects.yaml')]);

    await ensureProcess(progress, 'containerd', '/usr/bin/containerd', ['--config', join(dir, 'containerd.toml')],
      () => ctr(['version']).then(() => true, () => false), 60_000);
    await importImages(progress, await ensureImages(progress));
    const forwarded = [apiPort, envPort(5672), kafkaPodPort()];
    await ensureProcess(progress, 'node-forward', process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test', 'env', 'forward.ts'), podNetwork.gateway, ...forwarded.map(String)],
      async () => (await Promise.all(forwarded.map((port) => portOpen(podNetwork.gateway, port)))).every(Boolean), 30_000);
    await ensureProcess(progress, 'kubelet', kubeBin('kubelet'), [
      `--config=${join(dir, 'kubelet.yaml')}`, `--kubeconfig=${paths.kubeletKubeconfig}`, `--root-dir=${paths.kubeletDir}`,
      `--node-ip=${podNetwork.gateway}`, `--hostname-override=${nodeName}`, '--v=1',
    ], async () => (await kubeletHealthy()) && (await nodeReady()), 180_000);
    await ensureProcess(progress, 'kube-proxy', kubeBin('kube-proxy'), [`--config=${join(dir, 'kube-proxy.yaml')}`], proxyHealthy, 60_000);
    await ensureProcess(progress, 'coredns', join(corednsBinDir(), 'coredns'), ['-conf', join(dir, 'Corefile')], dnsReady, 60_000);
    const schedulerKubeconfig = join(dir, 'kube-scheduler.kubeconfig');
    await ensureProcess(progress, 'kube-scheduler', kubeBin('kube-scheduler'), [
      `--kubeconfig=${schedulerKubeconfig}`, `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`, '--bind-address=127.0.0.1', `--secure-port=${ports.scheduler}`,
      '--leader-elect=false',
    ], () => schedulerHealthy(), 60_000);
  },

  async stop() {
    if (!holdsMachineLock() && livePids().length === 0) return;
    await drain();
    for (const name of ['kube-scheduler', 'coredns', 'kube-proxy', 'kubelet', 'node-forward'] as const) await stopByPidFile(name);
    if (existsSync(kubeBin('kube-proxy'))) {
      await run({ command: kubeBin('kube-proxy'), args: ['--cleanup', `--config=${join(dir, 'kube-proxy.yaml')}`], logPath: logFile('kube-proxy') })
        .catch(() => undefined);
    }
    await stopByPidFile('containerd', 30_000);
    // Shims of containers that were not stopped through the kubelet outlive containerd.
    for (const pid of processesNaming(paths.containerdSocket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await sleep(200);
    await unmountUnder(dir);
    await unmountUnder(paths.containerdRoot);
    await deleteBridge();
    removeKubepodsCgroups();
    await removeIptablesChains();
    restoreSysctls(sysctlFile);
    removeContainerLogLinks(paths.podLogsDir);
    rmSync(join(dir, 'cni', 'ipam'), { recursive: true, force: true });
    rmSync(join(dir, 'containerd', 'state'), { recursive: true, force: true });
    releaseMachineLock();
  },

  async status(): Promise<ComponentStatus> {
    const up = await node.isUp();
    const containerd = existsSync('/usr/bin/containerd')
      ? (await run({ command: '/usr/bin/containerd', args: ['--version'] }).catch(() => '')).split(' ')[2] ?? '?'
      : 'not installed';
    return {
      up,
      version: `kubelet ${kubernetesPinnedVersion()}, containerd ${containerd}, CoreDNS ${pinned(corednsModule, 'github.com/coredns/coredns')}`,
      address: `node ${nodeName} at ${podNetwork.gateway}, pods ${podNetwork.cidr} on ${podNetwork.bridge}, taint ${nodeTaint.key}:${nodeTaint.effect}`,
    };
  },
};

/** kube-scheduler serves /healthz on a self-signed certificate of its own. */
function schedulerHealthy(): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = request({ host: '127.0.0.1', port: ports.scheduler, path: '/healthz', rejectUnauthorized: false, timeout: 2_000 },
      (response) => { response.resume(); resolve(response.statusCode === 200); });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * Pods leave through the API, so that the kubelet stops them and CNI releases their addresses
 * and veths: the node is cordoned (controllers' new pods stay Pending), its pods deleted and
 * waited for, and then the Node object goes.
 */
async function drain(): Promise<void> {
  if (!(await kubernetes.isUp().catch(() => false)) || !(await kubeletHealthy())) return;
  await kubectl(['cordon', nodeName]).catch(() => undefined);
  const selector = `--field-selector=spec.nodeName=${nodeName}`;
  await kubectl(['delete', 'pods', '--all-namespaces', selector, '--wait=true', '--timeout=90s']).catch(() => undefined);
  // What did not stop in time (a grace period longer than ours) is stopped at once.
  await kubectl(['delete', 'pods', '--all-namespaces', selector, '--grace-period=0', '--force', '--wait=true', '--timeout=30s'])
    .catch(() => undefined);
  await kubectl(['delete', 'node', nodeName, '--wait=true', '--timeout=30s']).catch(() => undefined);
}
