import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('the committed protobuf code is what `npm run gen` produces from proto/', () => {
  const out = mkdtempSync(join(tmpdir(), 'vigil-gen-'));
  try {
    execFileSync(process.execPath, [join(root, 'proto/gen.mjs'), out], { cwd: root, stdio: 'pipe' });
    const committed = join(root, 'libs/proto/src/gen');
    const fresh = files(out).map((f) => relative(out, f)).sort();
    assert.deepEqual(files(committed).map((f) => relative(committed, f)).sort(), fresh, 'same set of files');
    for (const f of fresh) {
      assert.equal(readFileSync(join(committed, f), 'utf8'), readFileSync(join(out, f), 'utf8'), `${f} is stale: run npm run gen`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
