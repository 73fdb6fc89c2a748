// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Module boundaries (docs/architecture.md, docs/adr/0021-shared-modules-beside-runtime-and-operator.md).
 * Each block lists what a directory may not import; a later block for a narrower directory
 * replaces the rule of a wider one, so each repeats what still applies to it.
 */
const amqplib = { name: 'amqplib', message: 'Only the RabbitMQ adapter (runtime/src/binders/rabbit) and topology/rabbit talk to RabbitMQ.' };
const kafkajs = { name: 'kafkajs', message: 'Only the Kafka adapter (runtime/src/binders/kafka) and topology/kafka talk to Kafka.' };
const kubernetes = {
  name: '@kubernetes/client-node',
  message: 'Only the operator talks to Kubernetes: the sidecar and the shared modules load no Kubernetes client code.',
};
const fastify = ['fastify', '@fastify/*'];
const operator = { group: ['**/operator/**'], message: 'The operator is not a library: share through topology/, sidecar-config/ or time/.' };
const runtime = { group: ['**/runtime/**'], message: 'The sidecar is not a library: share through topology/, sidecar-config/ or time/.' };
const sharedOnly = (...extra) => ['error', { paths: [amqplib, kafkajs, kubernetes], patterns: [operator, runtime, ...extra] }];

export default tseslint.config(
  { ignores: ['node_modules/', 'test/.env/', 'charts/', 'crds/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Broker clients stay behind their adapter (docs/adr/0002-one-adapter-per-broker.md).
      'no-restricted-imports': ['error', { paths: [amqplib, kafkajs] }],
    },
  },
  {
    // The sidecar: no operator code, no Kubernetes client; broker clients only in their adapter.
    files: ['runtime/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [amqplib, kafkajs, kubernetes], patterns: [operator] }] },
  },
  { files: ['runtime/src/binders/rabbit/**'], rules: { 'no-restricted-imports': ['error', { paths: [kafkajs, kubernetes], patterns: [operator] }] } },
  { files: ['runtime/src/binders/kafka/**'], rules: { 'no-restricted-imports': ['error', { paths: [amqplib, kubernetes], patterns: [operator] }] } },
  {
    // The operator: no sidecar code, and no broker client of its own (topology/ holds the sessions).
    files: ['operator/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [amqplib, kafkajs], patterns: [runtime] }] },
  },
  {
    // Shared modules: neither side's code, no Kubernetes client, no HTTP framework.
    files: ['topology/**', 'sidecar-config/**', 'time/**'],
    rules: { 'no-restricted-imports': sharedOnly({ group: fastify, message: 'Shared modules know nothing of HTTP.' }) },
  },
  {
    files: ['topology/rabbit/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [kafkajs, kubernetes], patterns: [operator, runtime] }] },
  },
  {
    files: ['topology/kafka/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [amqplib, kubernetes], patterns: [operator, runtime] }] },
  },
  {
    // Time and the config contract stand alone: they import nothing of the other modules.
    files: ['time/**', 'sidecar-config/**'],
    rules: {
      'no-restricted-imports': sharedOnly(
        { group: fastify, message: 'Shared modules know nothing of HTTP.' },
        { group: ['**/topology/**'], message: 'time/ and sidecar-config/ stand alone.' },
      ),
    },
  },
  {
    files: ['time/**'],
    rules: {
      'no-restricted-imports': sharedOnly(
        { group: fastify, message: 'Shared modules know nothing of HTTP.' },
        { group: ['**/topology/**', '**/sidecar-config/**'], message: 'time/ imports nothing of the other modules.' },
      ),
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['bin/bindery', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
