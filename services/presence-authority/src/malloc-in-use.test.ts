import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mallocInUse, mallocOf } from './malloc-in-use.js';

test('a process with libjemalloc mapped runs on jemalloc', () => {
  const maps = [
    '55d0c0a00000-55d0c0b00000 r-xp 00000000 08:01 1 /usr/bin/node',
    '7f1c2a000000-7f1c2a0a0000 r-xp 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
    '7f1c2b000000-7f1c2b1c0000 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libc.so.6',
  ].join('\n');
  assert.equal(mallocOf(maps), 'jemalloc');
});

test('a process without it runs on libc malloc, whatever else is named jemalloc', () => {
  const maps = [
    '55d0c0a00000-55d0c0b00000 r-xp 00000000 08:01 1 /usr/bin/node',
    '7f1c2b000000-7f1c2b1c0000 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f1c2c000000-7f1c2c001000 rw-p 00000000 08:01 4 /tmp/notes-about-libjemalloc.txt',
  ].join('\n');
  assert.equal(mallocOf(maps), 'libc');
});

test('this test process names the malloc it really runs on', () => {
  // The test runner is not started with LD_PRELOAD, unless someone runs it so: compare with the environment.
  const preloaded = (process.env.LD_PRELOAD ?? '').includes('libjemalloc');
  assert.equal(mallocInUse(), preloaded ? 'jemalloc' : 'libc');
});
