import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Sidecar } from '../sidecar/sidecar.ts';
import { BindingParams, BindingView, ErrorBody } from './schemas.ts';

/** `GET /v1/bindings` and `POST /v1/bindings/{binding}/state` (as SCSt's bindings actuator). */
export function registerBindingRoutes(parent: FastifyInstance, sidecar: Sidecar): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/v1/bindings',
    { schema: { response: { 200: Type.Object({ bindings: Type.Array(BindingView) }) } } },
    async () => ({ bindings: sidecar.bindings() }),
  );

  app.post(
    '/v1/bindings/:binding/state',
    {
      schema: {
        params: BindingParams,
        body: Type.Object({
          state: Type.Union([Type.Literal('stopped'), Type.Literal('started'), Type.Literal('paused'), Type.Literal('resumed')]),
        }),
        response: { 200: BindingView, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (request) => sidecar.setState(request.params.binding, request.body.state),
  );
}
