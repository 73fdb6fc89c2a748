import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCrds } from '../../../../operator/src/api/crd.ts';
import { CRD_DIR } from '../../../../operator/src/api/gen-crds.ts';

describe('crds/', () => {
  it.each(renderCrds().map((c) => [c.file, c.yaml]))('%s is what `npm run gen:crds` writes', (file, yaml) => {
    let committed = '';
    try {
      committed = readFileSync(join(CRD_DIR, file), 'utf8');
    } catch {
      // a missing file is stale too
    }
    expect(committed, `crds/${file} is stale: run npm run gen:crds`).toBe(yaml);
  });
});
