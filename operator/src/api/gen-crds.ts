/**
 * Writes crds/*.yaml from the TypeBox schemas (`npm run gen:crds`), and the chart's copy in
 * charts/bindery/crds/ with them, so the two can only differ when edited by hand (ADR 0008).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrds } from './crd.ts';

export const CRD_DIR = fileURLToPath(new URL('../../../crds/', import.meta.url));
export const CHART_CRD_DIR = fileURLToPath(new URL('../../../charts/bindery/crds/', import.meta.url));

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const dir of [CRD_DIR, CHART_CRD_DIR]) {
    mkdirSync(dir, { recursive: true });
    for (const { file, yaml } of renderCrds()) writeFileSync(join(dir, file), yaml);
  }
  for (const { file } of renderCrds()) console.log(`wrote crds/${file} and charts/bindery/crds/${file}`);
}
