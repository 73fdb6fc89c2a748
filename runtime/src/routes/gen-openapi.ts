/**
 * Writes docs/openapi.json, the checked copy of the document the sidecar serves at
 * `GET /v1/openapi.json` (`npm run gen:openapi`); a test fails while the copy is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../app.ts';
import { parseConfig } from '../config/load.ts';

export const OPENAPI_COPY = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

/** The document, from a sidecar without bindings: the routes and their schemas do not depend on them. */
export async function openApiDocument(): Promise<unknown> {
  const app = buildApp({ config: await parseConfig('binders: { mem: { type: memory } }\nbindings: {}\n', 'openapi.yaml') });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
  }
}

export function formatDocument(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OPENAPI_COPY, formatDocument(await openApiDocument()));
  console.log(`wrote ${OPENAPI_COPY}`);
}
