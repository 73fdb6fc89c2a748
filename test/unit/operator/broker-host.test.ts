import { describe, expect, it } from 'vitest';
import { brokerHost } from '../../../operator/src/controller/binders.ts';

describe('brokerHost: a Binder\'s short host name is a Service in its namespace', () => {
  it.each([
    ['rabbitmq', 'rabbitmq.shop.svc'],
    ['kafka:9092', 'kafka.shop.svc:9092'],
    ['rabbitmq.messaging', 'rabbitmq.messaging'],
    ['rabbitmq.messaging.svc.cluster.local', 'rabbitmq.messaging.svc.cluster.local'],
    ['broker.example.com:9093', 'broker.example.com:9093'],
    ['10.0.0.7', '10.0.0.7'],
    ['10.0.0.7:5672', '10.0.0.7:5672'],
    ['::1', '::1'],
    ['[fd00::7]:9092', '[fd00::7]:9092'],
    ['localhost', 'localhost'],
    ['localhost:9092', 'localhost:9092'],
  ])('%s in namespace shop -> %s', (address, expected) => {
    expect(brokerHost(address, 'shop')).toBe(expected);
  });
});
