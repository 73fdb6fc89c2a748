/** Writes crds/*.yaml from the TypeBox schemas (`npm run gen:crds`). */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrds } from './crd.ts';

export const CRD_DIR = fileURLToPath(new URL('../../../crds/', import.meta.url));

if (import.meta.url === `file://${process.argv[1]}`) {
  mkdirSync(CRD_DIR, { recursive: true });
  for (const { file, yaml } of renderCrds()) {
    writeFileSync(join(CRD_DIR, file), yaml);
    console.log(`wrote crds/${file}`);
  }
}
