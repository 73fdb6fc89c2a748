// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'test/.env/', 'charts/', 'crds/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Broker clients stay behind their adapter (docs/adr/0002-one-adapter-per-broker.md).
      'no-restricted-imports': ['error', { paths: [
        { name: 'amqplib', message: 'Only runtime/src/binders/rabbit and operator/src/topology/rabbit talk to RabbitMQ.' },
        { name: 'kafkajs', message: 'Only runtime/src/binders/kafka and operator/src/topology/kafka talk to Kafka.' },
      ] }],
    },
  },
  {
    files: ['runtime/src/binders/rabbit/**', 'operator/src/topology/rabbit/**', 'runtime/src/binders/kafka/**', 'operator/src/topology/kafka/**', 'test/**', 'bench/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['bin/bindery', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
