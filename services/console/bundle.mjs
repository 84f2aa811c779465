#!/usr/bin/env node
// Bundles the console's front end (web/src, Preact + TSX) with esbuild into
// dist/public with the static page and styles. Type checking is tsc -b's
// job (web/tsconfig.json); esbuild only strips types and bundles.
// Run by the root `npm run build` after tsc -b.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url);
const out = new URL('dist/public/', here);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL('web/src/main.tsx', here).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(new URL(`public/${f}`, here), new URL(f, out));
