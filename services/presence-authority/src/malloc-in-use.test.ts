import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mallocOf } from './malloc-in-use.js';

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

const machine = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[process.arch] ?? process.arch;
const jemalloc = `/usr/lib/${machine}-linux-gnu/libjemalloc.so.2`;
test('a process started with libjemalloc preloaded reports jemalloc', { skip: !existsSync(jemalloc) && `${jemalloc} is not installed` }, () => {
  assert.equal(reportedWith(jemalloc), 'jemalloc');
});
