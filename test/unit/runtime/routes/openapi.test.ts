/**
 * The OpenAPI document: what the sidecar serves is the checked copy (docs/openapi.json,
 * `npm run gen:openapi`), it is valid OpenAPI 3.1, it names every route the API has, and every
 * error code the API answers with.
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type SidecarApp } from '../../../../runtime/src/app.ts';
import { parseConfig } from '../../../../runtime/src/config/load.ts';
import { API_ERROR_CODES } from '../../../../runtime/src/routes/errors.ts';
import { OPENAPI_COPY, formatDocument } from '../../../../runtime/src/routes/gen-openapi.ts';

interface Document {
  openapi: string;
  paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string }>; responses: Record<string, unknown> }>>;
}

let app: SidecarApp;
const routes: string[] = [];
let served: Document;

beforeAll(async () => {
  app = buildApp({ config: await parseConfig('binders: { mem: { type: memory } }\nbindings: {}\n', 'test.yaml') });
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push(`${method.toLowerCase()} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
    }
  });
  await app.ready();
  const response = await app.inject({ method: 'GET', url: '/v1/openapi.json' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  served = response.json<Document>();
});

afterAll(async () => {
  await app.close();
});

describe('GET /v1/openapi.json', () => {
  it('serves the checked copy; run `npm run gen:openapi` when a route changed', () => {
    expect(formatDocument(served)).toBe(readFileSync(OPENAPI_COPY, 'utf8'));
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(served as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(served.openapi).toBe('3.1.0');
  });

  it('documents exactly the routes the API has', () => {
    const documented = Object.entries(served.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`));
    expect(documented.sort()).toEqual([...routes].sort());
    expect(routes).toEqual(expect.arrayContaining(['post /v1/send/{binding}', 'get /v1/listen/{binding}', 'get /v1/openapi.json']));
  });

  it('lists every error code of SPEC section 5 and every code the API answers with', () => {
    const text = JSON.stringify(served);
    const spec = ['BINDERY_ERR_UNKNOWN_BINDING', 'BINDERY_ERR_WRONG_DIRECTION', 'BINDERY_ERR_INVALID_PAYLOAD',
      'BINDERY_ERR_PAYLOAD_TOO_LARGE', 'BINDERY_ERR_BINDER_UNAVAILABLE', 'BINDERY_ERR_CONFIRM_TIMEOUT'];
    for (const code of [...spec, ...API_ERROR_CODES.map(([, c]) => c)]) expect(text, code).toContain(`"${code}"`);
  });

  it('documents the headers a send takes: Bindery\'s own, CloudEvents binary mode and trace context', () => {
    const headers = served.paths['/v1/send/{binding}']!.post!.parameters!.filter((p) => p.in === 'header').map((p) => p.name);
    expect(headers).toEqual(expect.arrayContaining(['x-partition-key', 'x-msg-id', 'ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'traceparent', 'tracestate']));
  });

  it('still answers errors in the documented form, with a code from the document', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/send/nope', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ statusCode: 404, code: 'BINDERY_ERR_UNKNOWN_BINDING', error: 'Not Found', message: 'no binding named "nope"' });
  });
});
