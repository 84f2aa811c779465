#!/usr/bin/env node
// Bundles the console's front end (web/src, Preact + TSX) with esbuild into
// dist/public with the static page and styles. Type checking is tsc -b's
// job (web/tsconfig.json); esbuild only strips types and bundles.
// Run by the root `npm run build` after tsc -b.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * @xmpp/resolve's browser field maps "./lib/dns" to nothing, but the code
 * imports "./lib/dns.js", which esbuild then looks up for real (node:dns).
 * Do what the field means: an empty module (the demo gives a ws:// URL, so
 * no DNS lookup is ever needed).
 */
const xmppForBrowsers = {
  name: 'xmpp-for-browsers',
  setup(b) {
    b.onResolve({ filter: /^\.\/lib\/dns\.js$/ }, (args) => (args.importer.includes('/@xmpp/resolve/') ? { path: 'xmpp-resolve-dns', namespace: 'empty' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export default {};', loader: 'js' }));
  },
};

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
  plugins: [xmppForBrowsers],
});
for (const f of ['index.html', 'app.css']) copyFileSync(new URL(`public/${f}`, here), new URL(f, out));
