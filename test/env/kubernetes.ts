import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { aptInstall } from './apt.ts';
import { ComponentStartError, type Component, type ComponentStatus, type Progress } from './component.ts';
import { goBuild, moduleKey, pinned } from './go-build.ts';
import { cacheDir, envDir, envPort, logFile, repoRoot } from './paths.ts';
import { ensurePki, pkiPaths, type Pki } from './pki.ts';
import { portOpen } from './probe.ts';
import { ensurePromtool, promtoolVersion } from './promtool.ts';
import { onPath, readPid, startDetached, stopByPidFile, waitUntilReady } from './process.ts';

const k8sModule = join(repoRoot, 'test', 'env', 'k8s');
const helmModule = join(repoRoot, 'test', 'env', 'helm');
const stateDir = join(envDir, 'k8s');
export const ownKubeconfig = join(envDir, 'kubeconfig');
export const apiPort = envPort(6443);
const controllerManagerPort = envPort(10257);
// Not etcd's usual 2379/2380: a Debian etcd on this machine would hold those.
const etcdClientPort = envPort(12379);
const etcdPeerPort = envPort(12380);
export const serviceRange = '10.0.0.0/24';
const serviceIp = '10.0.0.1';

export function kubernetesPinnedVersion(): string {
  return pinned(k8sModule, 'k8s.io/kubernetes');
}

function helmVersion(): string {
  return pinned(helmModule, 'helm.sh/helm/v3');
}

/**
 * Every Kubernetes binary comes out of one `go build` of the pinned module, so that the
 * packages they share compile once.
 */
const kubeCommands = ['kube-apiserver', 'kube-controller-manager', 'kubectl', 'kubelet', 'kube-proxy', 'kube-scheduler'];
const etcdPackage = 'go.etcd.io/etcd/server/v3';

function kubeBinDir(): string {
  return join(cacheDir(), `k8s-${kubernetesPinnedVersion()}-${moduleKey(k8sModule)}`, 'bin');
}

export function kubeBin(name: string): string {
  return join(kubeBinDir(), name);
}

export function kubectlPath(): string {
  return kubeBin('kubectl');
}

function helmBinDir(): string {
  return join(cacheDir(), `helm-${helmVersion()}-${moduleKey(helmModule)}`, 'bin');
}

export function helmPath(): string {
  return join(helmBinDir(), 'helm');
}

/** KUBECONFIG when set (the first file of a list), our own control plane's otherwise. */
export function kubeconfigPath(): string {
  const given = process.env.KUBECONFIG;
  return given ? given.split(':')[0]! : ownKubeconfig;
}

/** Version stamps that release builds get from the Kubernetes Makefile, so clients see a real version. */
function kubeVersionFlags(): string[] {
  const version = kubernetesPinnedVersion();
  const [major, minor] = version.replace(/^v/, '').split('.');
  const stamps = { gitVersion: version, gitMajor: major, gitMinor: minor, gitTreeState: 'clean' };
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) =>
    Object.entries(stamps).map(([name, value]) => `-X ${pkg}.${name}=${value}`));
}

function helmVersionFlags(): string[] {
  const [major, minor] = kubernetesPinnedVersion().replace(/^v/, '').split('.');
  // `helm template` renders for the cluster version it believes in; make it the one we run.
  return [
    `-X helm.sh/helm/v3/internal/version.version=${helmVersion()}`,
    ...['pkg/chartutil', 'pkg/lint/rules'].flatMap((pkg) => [
      `-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=${major}`,
      `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${minor}`,
    ]),
  ];
}

export async function ensureKubeBinaries(progress: Progress): Promise<void> {
  await goBuild(progress, {
    moduleDir: k8sModule,
    packages: [etcdPackage, ...kubeCommands.map((name) => `k8s.io/kubernetes/cmd/${name}`)],
    binDir: kubeBinDir(),
    ldflags: kubeVersionFlags(),
    renames: { server: 'etcd' },
    what: `Kubernetes ${kubernetesPinnedVersion()} (${kubeCommands.join(', ')}) and etcd ${pinned(k8sModule, etcdPackage)}`,
  });
}

async function ensureClients(progress: Progress): Promise<void> {
  mkdirSync(join(envDir, 'logs'), { recursive: true });
  // After the Kubernetes binaries, not beside them: helm then reuses their compiled packages
  // (a cold run measured helm at 108 s after them, 918 s beside them).
  await ensureKubeBinaries(progress);
  await goBuild(progress, {
    moduleDir: helmModule, packages: ['helm.sh/helm/v3/cmd/helm'], binDir: helmBinDir(),
    ldflags: helmVersionFlags(), what: `helm ${helmVersion()}`,
  });
  // Not a Kubernetes client, but built here for the same reason: after the others, it reuses
  // their compiled packages (client-go, protobuf, golang.org/x) instead of racing them.
  await ensurePromtool(progress);
}

interface HttpsAnswer {
  status: number;
  body: string;
}

function httpsGet(port: number, path: string, pki: Pki, client: boolean): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'GET', timeout: 3_000,
      ...(client
        ? { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) }
        // the controller manager serves /healthz on a self-signed certificate of its own
        : { rejectUnauthorized: false }),
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The control plane's credentials; the node issues its own certificates with its CA. */
export const pki = (): Pki => pkiPaths(join(stateDir, 'pki'));

async function apiAnswers(path: string): Promise<boolean> {
  if (!existsSync(pki().adminCert)) return false;
  return (await httpsGet(apiPort, path, pki(), true).catch(() => undefined))?.status === 200;
}

async function controllerManagerHealthy(): Promise<boolean> {
  return (await httpsGet(controllerManagerPort, '/healthz', pki(), false).catch(() => undefined))?.status === 200;
}

async function etcdHealthy(): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${etcdClientPort}/health`, { signal: AbortSignal.timeout(2_000) });
    return response.ok;
  } catch {
    return false;
  }
}

export function kubeconfigYaml(user: string, cert: string, key: string): string {
  const b64 = (path: string): string => readFileSync(path).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: bindery
  cluster:
    server: https://127.0.0.1:${apiPort}
    certificate-authority-data: ${b64(pki().caCert)}
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(cert)}
    client-key-data: ${b64(key)}
contexts:
- name: bindery
  context:
    cluster: bindery
    user: ${user}
current-context: bindery
`;
}

async function startEtcd(progress: Progress): Promise<void> {
  if (await etcdHealthy()) return;
  progress('kubernetes: starting etcd...');
  const logPath = logFile('etcd');
  const client = `http://127.0.0.1:${etcdClientPort}`;
  const peer = `http://127.0.0.1:${etcdPeerPort}`;
  const pid = startDetached({
    name: 'etcd', command: kubeBin('etcd'), logPath, cwd: stateDir,
    args: ['--name', 'bindery', '--data-dir', join(stateDir, 'etcd'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `bindery=${peer}`,
      // test data only: durability on power loss is not worth the fsync cost on a shared machine
      '--unsafe-no-fsync', '--log-level', 'warn'],
  });
  await waitUntilReady({ component: 'etcd', what: `etcd answering on ${client}`, logPath, timeoutMs: 60_000, pid, ready: etcdHealthy });
}

const apiServerArgsFile = join(stateDir, 'kube-apiserver.args');

/** True when the running API server was started with the flags this checkout would give it. */
function apiServerCurrent(): boolean {
  try {
    return readFileSync(apiServerArgsFile, 'utf8') === JSON.stringify(apiServerArgs());
  } catch {
    return false;
  }
}

function apiServerArgs(): string[] {
  const p = pki();
  return [
    `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
    '--bind-address=127.0.0.1', `--secure-port=${apiPort}`, '--advertise-address=127.0.0.1',
    `--tls-cert-file=${p.serverCert}`, `--tls-private-key-file=${p.serverKey}`,
    `--client-ca-file=${p.caCert}`,
    `--service-account-key-file=${p.serviceAccountPub}`,
    `--service-account-signing-key-file=${p.serviceAccountKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-cluster-ip-range=${serviceRange}`,
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // Endpoints may not point at loopback; with no reconciler the `kubernetes` Service has none.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${join(stateDir, 'apiserver-certs')}`,
    // The test node's kubelet (test/env/node.ts): logs, exec and port-forward go through it.
    `--kubelet-client-certificate=${p.kubeletClientCert}`, `--kubelet-client-key=${p.kubeletClientKey}`,
    `--kubelet-certificate-authority=${p.caCert}`,
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    // Lets a namespace give its pods the test node's toleration (scheduler.alpha.kubernetes.io/defaultTolerations).
    '--enable-admission-plugins=PodTolerationRestriction',
    '--profiling=false',
  ];
}

async function startApiServer(progress: Progress): Promise<void> {
  if (await apiAnswers('/readyz')) {
    if (apiServerCurrent()) return;
    progress('kubernetes: kube-apiserver runs with other flags than this checkout gives it; restarting it...');
    await stopByPidFile('kube-apiserver');
  }
  progress('kubernetes: starting kube-apiserver...');
  const logPath = logFile('kube-apiserver');
  const args = apiServerArgs();
  const pid = startDetached({ name: 'kube-apiserver', command: kubeBin('kube-apiserver'), logPath, cwd: stateDir, args });
  writeFileSync(apiServerArgsFile, JSON.stringify(args));
  await waitUntilReady({
    component: 'kube-apiserver', what: `https://127.0.0.1:${apiPort}/readyz answering ok`, logPath,
    timeoutMs: 180_000, pid, ready: () => apiAnswers('/readyz'),
  });
}

async function startControllerManager(progress: Progress): Promise<void> {
  if (await controllerManagerHealthy()) return;
  const p = pki();
  const kubeconfig = join(stateDir, 'controller-manager.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml('system:kube-controller-manager', p.controllerManagerCert, p.controllerManagerKey), { mode: 0o600 });
  progress('kubernetes: starting kube-controller-manager...');
  const logPath = logFile('kube-controller-manager');
  const pid = startDetached({
    name: 'kube-controller-manager', command: kubeBin('kube-controller-manager'), logPath, cwd: stateDir,
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${controllerManagerPort}`,
      `--cert-dir=${join(stateDir, 'controller-manager-certs')}`,
      `--service-account-private-key-file=${p.serviceAccountKey}`,
      `--root-ca-file=${p.caCert}`,
      '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${p.caCert}`, `--cluster-signing-key-file=${p.caKey}`,
      `--service-cluster-ip-range=${serviceRange}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
  });
  await waitUntilReady({
    component: 'kube-controller-manager', what: `/healthz on 127.0.0.1:${controllerManagerPort} answering ok`, logPath,
    timeoutMs: 120_000, pid, ready: controllerManagerHealthy,
  });
  // Pods need their namespace's `default` ServiceAccount; its appearance shows the controllers work.
  await waitUntilReady({
    component: 'kube-controller-manager', what: 'the default ServiceAccount appearing in namespace default', logPath,
    timeoutMs: 60_000, pid, ready: () => apiAnswers('/api/v1/namespaces/default/serviceaccounts/default'),
  });
}

async function externalVersion(): Promise<string | undefined> {
  try {
    // Loaded only for an outside cluster: the client library takes seconds to load.
    const { KubeConfig, VersionApi } = await import('@kubernetes/client-node');
    const config = new KubeConfig();
    config.loadFromFile(kubeconfigPath());
    const info = await config.makeApiClient(VersionApi).getCode();
    return info.gitVersion;
  } catch {
    return undefined;
  }
}

/** The server's version: ours is the pinned one; an outside one (KUBECONFIG) says its own. */
export async function kubernetesVersion(): Promise<string> {
  if (!kubernetes.external()) return kubernetesPinnedVersion();
  return (await externalVersion()) ?? 'unknown';
}

export const kubernetes: Component & { ensureClients: (progress: Progress) => Promise<void> } = {
  name: 'kubernetes',

  external() {
    const given = process.env.KUBECONFIG;
    // KUBECONFIG pointing at our own kubeconfig (exported for kubectl) still means our control plane.
    if (!given || resolve(given.split(':')[0]!) === ownKubeconfig) return undefined;
    return 'KUBECONFIG';
  },

  ensureClients,

  async ensureInstalled(progress: Progress) {
    if (!onPath('openssl')) await aptInstall(['openssl'], progress, logFile('install'));
    await ensureClients(progress);
  },

  async isUp() {
    if (kubernetes.external()) return (await externalVersion()) !== undefined;
    return (await apiAnswers('/readyz')) && apiServerCurrent() && (await controllerManagerHealthy());
  },

  async start(progress: Progress) {
    mkdirSync(stateDir, { recursive: true });
    if (await portOpen('127.0.0.1', apiPort) && !existsSync(pki().adminCert)) {
      throw new ComponentStartError('kube-apiserver',
        `port ${apiPort} is taken by an API server this checkout did not start (another checkout's?); ` +
        'set BINDERY_ENV_PORT_OFFSET for an environment of its own, or KUBECONFIG to use that one',
        logFile('kube-apiserver'), '(nothing started)');
    }
    if (await portOpen('127.0.0.1', apiPort) && !(await apiAnswers('/readyz'))) {
      // Not ours, or still starting: starting a second API server would only fail on the port.
      await waitUntilReady({
        component: 'kube-apiserver', what: `https://127.0.0.1:${apiPort}/readyz answering ok`, logPath: logFile('kube-apiserver'),
        timeoutMs: 120_000, ready: () => apiAnswers('/readyz'),
      });
    }
    await ensurePki(join(stateDir, 'pki'), serviceIp);
    const admin = pki();
    const config = kubeconfigYaml('bindery-admin', admin.adminCert, admin.adminKey);
    const partial = `${ownKubeconfig}.partial`;
    writeFileSync(partial, config, { mode: 0o600 });
    renameSync(partial, ownKubeconfig);
    await startEtcd(progress);
    await startApiServer(progress);
    await startControllerManager(progress);
  },

  async stop() {
    await stopByPidFile('kube-controller-manager');
    await stopByPidFile('kube-apiserver');
    await stopByPidFile('etcd');
  },

  async status(): Promise<ComponentStatus> {
    if (kubernetes.external()) {
      const version = await externalVersion();
      return { up: version !== undefined, version: `Kubernetes ${version ?? 'unknown'}`, address: kubeconfigPath() };
    }
    const up = await kubernetes.isUp();
    const processes = ['etcd', 'kube-apiserver', 'kube-controller-manager'].filter((name) => readPid(name) !== undefined);
    return {
      up,
      version: `Kubernetes ${kubernetesPinnedVersion()}, helm ${helmVersion()}, promtool ${promtoolVersion()}`,
      address: `https://127.0.0.1:${apiPort} (kubeconfig ${ownKubeconfig}; ${processes.join(', ') || 'no processes'})`,
    };
  },
};
