// Measuring aid: with
//   VIGIL_CHILD_NODE_ARGS="--expose-gc --import $PWD/bench/tools/heap-after-gc.mjs"
// a service started by the test kit answers SIGWINCH by collecting garbage
// and writing process.memoryUsage() before and after to
// the OS temp directory as vigil-heap-<pid>-<time>.json:
// the live heap, which RSS (what the memory scenario reads) only bounds.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.on('SIGWINCH', () => {
  const before = process.memoryUsage();
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const after = process.memoryUsage();
  writeFileSync(join(tmpdir(), `vigil-heap-${process.pid}-${Date.now()}.json`), JSON.stringify({ before, after }));
});
