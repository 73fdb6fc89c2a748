/**
 * How both ports turn route schemas into validators and serializers, chosen for the time to
 * ready: fastify's defaults compiled every schema with ajv and fast-json-stringify before the
 * first request, which took about a third of the sidecar's CPU from start to ready.
 *
 * - Validators are TypeBox's own compiler (the schemas are TypeBox): no ajv instance, and
 *   no ajv at all, whose meta-schema compilation alone cost more than all the routes.
 * - Serializers are fastify's own (fast-json-stringify), compiled on a route's first answer
 *   with each status rather than all at start: the answers stay as fast once compiled, and a
 *   route never called (most of them, in most pods) costs nothing.
 * - The ops port's few small answers, once every few seconds, are JSON.stringify's: loading
 *   fast-json-stringify for the first probe would cost more than every probe after it.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';
import type { SerializerFactory } from '@fastify/fast-json-stringify-compiler';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';

type CompilersFactory = Required<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>>;

const require = createRequire(import.meta.url);

/** The API port's compilers. */
export const schemaCompilers: CompilersFactory = {
  // fastify's type is ajv's; TypeBox's compiler gives fastify what it expects of any compiler.
  buildValidator: () => TypeBoxValidatorCompiler as unknown as ReturnType<CompilersFactory['buildValidator']>,
  buildSerializer: (externalSchemas, options) => {
    let compilerOf: ReturnType<SerializerFactory> | undefined;
    return (route) => {
      let serialize: ((data: unknown) => string) | undefined;
      return (data) => {
        if (serialize === undefined) {
          // Loaded with the first answer, with fast-json-stringify (and the ajv it brings).
          const { SerializerSelector } = require('@fastify/fast-json-stringify-compiler') as typeof import('@fastify/fast-json-stringify-compiler');
          compilerOf ??= SerializerSelector()(externalSchemas, options);
          serialize = compilerOf(route);
        }
        return serialize(data);
      };
    };
  },
};

/** The ops port's compilers: its answers are a handful of fields (routes/ops.ts). */
export const opsSchemaCompilers: CompilersFactory = {
  buildValidator: schemaCompilers.buildValidator,
  buildSerializer: () => () => (data) => JSON.stringify(data),
};
