import { describe, expect, it } from 'vitest';
import { kafkaBrokers } from '../env/kafka.ts';
import { envPort } from '../env/paths.ts';
import { rabbitAddress } from '../env/rabbit.ts';

describe('environment overrides of the test environment', () => {
  it.each([
    {
      env: {},
      url: 'amqp://guest:guest@127.0.0.1:5672', management: 'http://127.0.0.1:15672', user: 'guest', password: 'guest', port: 5672,
    },
    {
      env: { BINDERY_ENV_PORT_OFFSET: '1000' },
      url: 'amqp://guest:guest@127.0.0.1:6672', management: 'http://127.0.0.1:16672', user: 'guest', password: 'guest', port: 6672,
    },
    {
      env: { RABBIT_URL: 'amqp://app:s%40cret@rabbit.test:5673/prod', BINDERY_ENV_PORT_OFFSET: '1000' },
      url: 'amqp://app:s%40cret@rabbit.test:5673/prod', management: 'http://rabbit.test:15672', user: 'app', password: 's@cret', port: 5673,
    },
    {
      env: { RABBIT_URL: 'amqps://app:pw@rabbit.test', RABBIT_MANAGEMENT_URL: 'https://admin:root@mgmt.test:443/' },
      url: 'amqps://app:pw@rabbit.test', management: 'https://mgmt.test', user: 'admin', password: 'root', port: 5671,
    },
  ])('RabbitMQ from $env', ({ env, url, management, user, password, port }) => {
    expect(rabbitAddress(env)).toEqual({
      url, managementUrl: management, managementUser: user, managementPassword: password,
      host: new URL(url).hostname, port,
    });
  });

  it.each([
    { env: {}, brokers: ['127.0.0.1:9092'] },
    { env: { BINDERY_ENV_PORT_OFFSET: '7' }, brokers: ['127.0.0.1:9099'] },
    { env: { KAFKA_BROKERS: 'k1.test:9092, k2.test:9093,' }, brokers: ['k1.test:9092', 'k2.test:9093'] },
  ])('Kafka brokers from $env', ({ env, brokers }) => {
    expect(kafkaBrokers(env)).toEqual(brokers);
  });

  it.each(['-1', 'ten', '20001', '1.5'])('refuses port offset %s', (offset) => {
    expect(() => envPort(5672, { BINDERY_ENV_PORT_OFFSET: offset })).toThrow(/BINDERY_ENV_PORT_OFFSET must be a whole number/);
  });
});
