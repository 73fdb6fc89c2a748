/**
 * `npm run build`'s second step: dist/bundle/, the `bindery` command as the image starts it,
 * made by esbuild from the JavaScript tsc emitted into dist/ (docs/adr/0053). `bindery runtime`
 * loads one file and the chunk of its binder's adapter instead of some 800 modules: resolving,
 * reading and compiling those was the larger part of the sidecar's time to ready.
 *
 * The adapters (amqplib, kafkajs) stay separate chunks, imported only when a binder of their
 * type is configured. The operator and the demo are not bundled: their import()s keep pointing
 * at dist/operator and dist/runtime/src/demo, which dist/bundle sits beside.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** The file the image runs as `bindery`. */
export const BUNDLE_ENTRY = `${dist}bundle/bindery.js`;

export async function bundle(): Promise<string> {
  await build({
    entryPoints: { bindery: `${dist}bin/main.js` },
    outdir: `${dist}bundle`,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['../operator/src/main.js', '../runtime/src/demo/index.js'],
    // The CommonJS packages bundled into an ES module call require() for Node's own modules.
    banner: { js: "import { createRequire as __bindery_createRequire } from 'node:module'; const require = __bindery_createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return BUNDLE_ENTRY;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle();
