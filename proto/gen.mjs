#!/usr/bin/env node
// Regenerates libs/proto/src/gen from proto/ with buf and ts-proto, both from
// npm. `node proto/gen.mjs [outDir]`: the staleness test passes a temp dir and
// compares byte for byte.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? resolve(root, 'libs/proto/src/gen'));
const plugin = resolve(root, 'node_modules/.bin/protoc-gen-ts_proto');
const buf = resolve(root, 'node_modules/.bin/buf');

export const TS_PROTO_OPTIONS = [
  'esModuleInterop=true',
  'importSuffix=.js',
  'forceLong=number',
  'oneof=unions',
  'env=node',
  'outputServices=grpc-js',
  'useOptionals=none',
  'outputTypeRegistry=false',
  'enumsAsLiterals=true',
];

const template = {
  version: 'v2',
  plugins: [{ local: plugin, out, opt: TS_PROTO_OPTIONS }],
};

// Checked before the old output goes: without the packages installed, a failed run would leave no generated code.
for (const tool of [plugin, buf]) {
  if (!existsSync(tool)) throw new Error(`${tool} is missing: run npm ci first`);
}
rmSync(out, { recursive: true, force: true });
execFileSync(buf, ['generate', resolve(root, 'proto'), '--template', JSON.stringify(template)], {
  cwd: root,
  stdio: 'inherit',
});
