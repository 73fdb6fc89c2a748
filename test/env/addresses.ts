import type { ExternalComponents, TestEnvironment } from './contract.ts';
import { kafka, kafkaBrokers } from './kafka.ts';
import { helmPath, kubeconfigPath, kubectlPath, kubernetes, kubernetesVersion } from './kubernetes.ts';
import { rabbit, rabbitAddress } from './rabbit.ts';

export async function testEnvironment(): Promise<TestEnvironment> {
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
    kubernetesVersion: await kubernetesVersion(),
  };
}

export function externalComponents(): ExternalComponents {
  return {
    rabbit: rabbit.external() !== undefined,
    kafka: kafka.external() !== undefined,
    kubernetes: kubernetes.external() !== undefined,
  };
}
