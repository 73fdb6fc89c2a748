#!/usr/bin/env node
// The `bindery` command itself. The image runs it compiled (`npm run build` emits
// dist/bin/main.js; docs/adr/0031-the-image-runs-compiled-javascript.md); bin/bindery runs the
// same from the TypeScript sources through tsx, for a checkout without a build.
import { run } from './cli.ts';

process.exitCode = await run(process.argv.slice(2));
