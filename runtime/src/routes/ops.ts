import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Sidecar } from '../sidecar/sidecar.ts';

/** Probes and metrics, on the ops port. */
export function registerOpsRoutes(parent: FastifyInstance, sidecar: Sidecar): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();

  // Liveness only says the process serves HTTP: a broker outage or a binding stopped on
  // purpose must not get the pod restarted.
  app.get('/healthz', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  // `bindings`: bindings whose topology the broker refused, with why (the binder is up, yet
  // they cannot work until someone changes one side).
  const Readiness = Type.Object({
    ready: Type.Boolean(),
    binders: Type.Record(Type.String(), Type.String()),
    bindings: Type.Optional(Type.Record(Type.String(), Type.String())),
  });
  app.get('/readyz', { schema: { response: { 200: Readiness, 503: Readiness } } }, async (_request, reply) => {
    const readiness = sidecar.readiness();
    return reply.status(readiness.ready ? 200 : 503).send(readiness);
  });

  app.get('/metrics', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => {
    const text = await sidecar.metrics.text();
    return reply.type(sidecar.metrics.contentType).send(text);
  });
}
