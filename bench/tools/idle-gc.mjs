// Experiment (docs/decisions.md, "glibc malloc settings of the services"): in
// the presence authority only, force a full garbage collection once the heap
// has been quiet for a while, to see how much of the RSS a login storm leaves
// is given back. Preload it into the services the test kit starts:
//
//   VIGIL_CHILD_ECHO=1 VIGIL_CHILD_NODE_ARGS="--heap-growing-percent=0 --import $PWD/bench/tools/idle-gc.mjs" \
//     npm run bench -- memory
//
// Quiet means: the used heap grew by less than VIGIL_IDLE_GC_QUIET_BYTES
// (default 1,000,000) in each of VIGIL_IDLE_GC_QUIET_TICKS (default 3)
// half-second ticks in a row, and the heap holds more than 1.3 times what the
// last forced collection left. Each collection prints one line on stderr.
import v8 from 'node:v8';
import vm from 'node:vm';

if (process.argv.some((a) => a.includes('presence-authority'))) {
  const quietBytes = Number(process.env.VIGIL_IDLE_GC_QUIET_BYTES ?? 1_000_000);
  const quietTicks = Number(process.env.VIGIL_IDLE_GC_QUIET_TICKS ?? 3);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  let afterGc = v8.getHeapStatistics().used_heap_size;
  let prevUsed = afterGc;
  let quiet = 0;
  setInterval(() => {
    const s = v8.getHeapStatistics();
    const grew = s.used_heap_size - prevUsed;
    prevUsed = s.used_heap_size;
    quiet = grew < quietBytes ? quiet + 1 : 0;
    if (quiet < quietTicks || s.total_heap_size <= afterGc * 1.3) return;
    const t0 = performance.now();
    gc();
    const after = v8.getHeapStatistics();
    afterGc = after.used_heap_size;
    prevUsed = afterGc;
    quiet = 0;
    const mb = (n) => (n / 1e6).toFixed(1);
    const spaces = v8.getHeapSpaceStatistics().map((x) => `${x.space_name}:${mb(x.space_size)}/${mb(x.space_used_size)}`);
    process.stderr.write(
      `idle-gc: ${(performance.now() - t0).toFixed(1)} ms, heap ${mb(s.total_heap_size)} -> ${mb(after.total_heap_size)} MB, ` +
        `used ${mb(after.used_heap_size)} MB, rss ${mb(process.memoryUsage().rss)} MB; ${spaces.join(' ')}\n`,
    );
  }, 500).unref();
}
