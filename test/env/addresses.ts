import type { ExternalComponents, TestEnvironment } from './contract.ts';
import { rabbit, rabbitAddress } from './rabbit.ts';

export async function testEnvironment(): Promise<TestEnvironment> {
  const r = rabbitAddress();
  return {
    rabbitUrl: r.url,
    rabbitManagementUrl: r.managementUrl,
    rabbitManagementUser: r.managementUser,
    rabbitManagementPassword: r.managementPassword,
    kafkaBrokers: (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean),
    kubeconfig: '',
    kubectl: '',
    helm: '',
    kubernetesVersion: '',
  };
}

export function externalComponents(): ExternalComponents {
  return {
    rabbit: rabbit.external() !== undefined,
    kafka: Boolean(process.env.KAFKA_BROKERS),
    kubernetes: Boolean(process.env.KUBECONFIG),
  };
}
