/**
 * The test node's configuration files, as pure functions of where its state lives: containerd,
 * the CNI network, kubelet, kube-proxy and CoreDNS. test/env/node.ts writes them and starts the
 * processes.
 */
import { podNetwork } from './pod-network.ts';

export interface NodePaths {
  /** What the node writes (test/.env/node): kubelet's root, configs, containerd's state. */
  dir: string;
  /** containerd's image store: in the cache, so that a fresh clone imports nothing new. */
  containerdRoot: string;
  containerdSocket: string;
  cniConfDir: string;
  cniBinDir: string;
  kubeletDir: string;
  podLogsDir: string;
  kubeletKubeconfig: string;
  kubeletCert: string;
  kubeletKey: string;
  caCert: string;
  proxyKubeconfig: string;
  dnsKubeconfig: string;
}

/** The image every pod sandbox runs (test/env/node-images.ts builds it). */
export const pauseImage = 'bindery.test/pause:1';
export const nodeTaint = { key: 'bindery.io/test-node', effect: 'NoSchedule' } as const;
export const clusterDomain = 'cluster.local';

export const ports = {
  kubeletHealthz: 10248,
  kubelet: 10250,
  proxyHealthz: 10256,
  proxyMetrics: 10249,
  scheduler: 10259,
  dnsHealth: 10253,
  dnsReady: 10254,
} as const;

export function containerdConfig(p: NodePaths): string {
  return `version = 2
root = "${p.containerdRoot}"
state = "${p.dir}/containerd/state"
# Only what the CRI needs; the others would look for btrfs, zfs or devmapper on this machine.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${p.containerdSocket}"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${p.dir}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  # Without CAP_SYS_RESOURCE the OOM score of a container cannot go below containerd's own.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # crun refuses this machine's hybrid cgroups; runc works, with the cgroupfs driver.
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${p.cniBinDir}"
    conf_dir = "${p.cniConfDir}"
`;
}

export function cniConfig(p: NodePaths): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: podNetwork.name,
    plugins: [
      {
        type: 'bridge',
        bridge: podNetwork.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: podNetwork.cidr, gateway: podNetwork.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          // Leases under the node's own state, so that `down` can drop them all.
          dataDir: `${p.dir}/cni/ipam`,
        },
      },
      { type: 'loopback' },
    ],
  }, null, 2);
}

export function kubeletConfig(p: NodePaths): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has v1 (hybrid) cgroups and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${p.containerdSocket}
address: ${podNetwork.gateway}
port: ${ports.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.kubeletHealthz}
tlsCertFile: ${p.kubeletCert}
tlsPrivateKeyFile: ${p.kubeletKey}
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${p.caCert} }
authorization:
  mode: Webhook
clusterDNS: [${podNetwork.gateway}]
clusterDomain: ${clusterDomain}
podLogsDirectory: ${p.podLogsDir}
# Only pods that tolerate this run here: other tests expect theirs to stay Pending.
registerWithTaints:
  - { key: ${nodeTaint.key}, effect: ${nodeTaint.effect} }
# A test machine's disk is often fuller than a production node's: evict only when it is full,
# and never collect the images that were imported because none can be pulled.
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 40
shutdownGracePeriod: 0s
`;
}

export function kubeProxyConfig(p: NodePaths, nodeName: string): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${p.proxyKubeconfig}
hostnameOverride: ${nodeName}
clusterCIDR: ${podNetwork.cidr}
healthzBindAddress: 127.0.0.1:${ports.proxyHealthz}
metricsBindAddress: 127.0.0.1:${ports.proxyMetrics}
nodePortAddresses: [${podNetwork.gateway}/32]
# Leave the machine's conntrack settings and route_localnet as they are.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
iptables: { localhostNodePorts: false, minSyncPeriod: 1s, syncPeriod: 30s }
`;
}

export function corefile(p: NodePaths): string {
  return `.:53 {
    bind ${podNetwork.gateway}
    health 127.0.0.1:${ports.dnsHealth}
    ready 127.0.0.1:${ports.dnsReady}
    errors
    loadbalance
    cache 5
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        kubeconfig ${p.dnsKubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    forward . /etc/resolv.conf
}
`;
}
