#!/usr/bin/env node
// Runs every compiled test file with node's test runner: unit tests beside
// their code (libs/*/dist, services/*/dist) and cross-process tests in
// test/dist. Unit tests run in parallel; cross-process tests one file at a
// time, since each starts a cluster and the machine has two cores.
// `node test/run.mjs [filter]` runs only files whose path contains filter.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2] ?? '';

function findTests(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const packages = ['libs', 'services'].flatMap((top) =>
  readdirSync(join(root, top)).map((p) => join(root, top, p, 'dist')),
);
const unit = packages.flatMap((d) => findTests(d)).filter((f) => f.includes(filter));
const e2e = [join(root, 'test', 'dist'), join(root, 'bench', 'dist')].flatMap((d) => findTests(d)).filter((f) => f.includes(filter));

let failed = false;
for (const [name, files, concurrency] of [['unit', unit, 2], ['cross-process', e2e, 1]]) {
  if (files.length === 0) continue;
  console.log(`\n# ${name} tests: ${files.length} files`);
  const r = spawnSync(
    process.execPath,
    ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files.map((f) => relative(root, f))],
    { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
  );
  if (r.status !== 0) failed = true;
}
if (unit.length + e2e.length === 0) {
  console.error('no test files found: did the build run?');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
