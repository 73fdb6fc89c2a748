import type { ExternalComponents, TestEnvironment, TestNode } from './contract.ts';
import { kafka, kafkaBrokers, kafkaPodPort } from './kafka.ts';
import { helmPath, kubeconfigPath, kubectlPath, kubernetes, kubernetesVersion } from './kubernetes.ts';
import { nodeTaint } from './node-config.ts';
import { promtoolPath } from './promtool.ts';
import { binderyImage } from './node-images.ts';
import { nodeName } from './node.ts';
import { podNetwork } from './pod-network.ts';
import { rabbit, rabbitAddress } from './rabbit.ts';

function testNode(): TestNode {
  return {
    name: nodeName, taint: nodeTaint, image: binderyImage().name,
    hostAddress: podNetwork.gateway, rabbitPort: rabbitAddress().port, kafkaPort: kafkaPodPort(),
  };
}

export async function testEnvironment(withNode = false): Promise<TestEnvironment> {
  const r = rabbitAddress();
  return {
    rabbitUrl: r.url,
    rabbitManagementUrl: r.managementUrl,
    rabbitManagementUser: r.managementUser,
    rabbitManagementPassword: r.managementPassword,
    kafkaBrokers: kafkaBrokers(),
    kubeconfig: kubeconfigPath(),
    kubectl: kubectlPath(),
    helm: helmPath(),
    promtool: promtoolPath(),
    kubernetesVersion: await kubernetesVersion(),
    ...(withNode && { node: testNode() }),
  };
}

export function externalComponents(): ExternalComponents {
  return {
    rabbit: rabbit.external() !== undefined,
    kafka: kafka.external() !== undefined,
    kubernetes: kubernetes.external() !== undefined,
  };
}
