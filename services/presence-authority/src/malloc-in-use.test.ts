import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jemallocPathFor, unameMachine } from '@vigil/testkit';
import { mallocOf } from './malloc-in-use.js';

/** /proc/self/maps text with one executable mapping of each path. */
const mapsOf = (...paths: string[]): string => paths.map((p, i) => `7f1c2${i}000000-7f1c2${i}0a0000 r-xp 00000000 08:01 ${i + 1} ${p}`).join('\n');

test('a process with libjemalloc mapped runs on jemalloc', () => {
  assert.equal(mallocOf(mapsOf('/usr/bin/node', '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/x86_64-linux-gnu/libc.so.6')), 'jemalloc');
});

test('a process without it runs on libc malloc, whatever else is named jemalloc', () => {
  assert.equal(mallocOf(mapsOf('/usr/bin/node', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/tmp/notes-about-libjemalloc.txt')), 'libc');
});

/** mallocInUse() as a child process started with `preload` as its LD_PRELOAD reports it. */
function reportedWith(preload: string): string {
  const module = fileURLToPath(new URL('./malloc-in-use.js', import.meta.url));
  return execFileSync(process.execPath, ['--input-type=module', '-e', `import { mallocInUse } from ${JSON.stringify(module)}; process.stdout.write(mallocInUse());`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, LD_PRELOAD: preload },
  });
}

test('a process started without a preload reports libc', { skip: process.platform !== 'linux' && 'reads /proc/self/maps' }, () => {
  assert.equal(reportedWith(''), 'libc');
});

// Where the launchers look for it on this machine (libs/testkit/src/service-flags.ts).
const jemalloc = jemallocPathFor(unameMachine());
test('a process started with libjemalloc preloaded reports jemalloc', { skip: !existsSync(jemalloc) && `${jemalloc} is not installed` }, () => {
  assert.equal(reportedWith(jemalloc), 'jemalloc');
});
