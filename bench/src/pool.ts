import { performance } from 'node:perf_hooks';

export interface PoolLimits {
  /** At most this many tasks run at once. */
  readonly concurrency: number;
  /** performance.now() after which no new task starts; running ones finish. */
  readonly deadline: number;
  /** Stops new tasks too (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/**
 * Runs task(0) … task(count - 1), at most `concurrency` at a time, starting
 * none after the deadline or an abort. Bounded in count and in time, so a
 * scenario can never loop on. A task that throws stops no other task; the
 * errors are returned. Returns how many tasks started.
 */
export async function runPool(
  count: number,
  limits: PoolLimits,
  task: (index: number) => Promise<void>,
): Promise<{ started: number; errors: unknown[] }> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() < limits.deadline && limits.signal?.aborted !== true) {
      const index = next++;
      try {
        await task(index);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  const workers = Math.max(1, Math.min(limits.concurrency, count));
  await Promise.all(Array.from({ length: workers }, worker));
  return { started: next, errors };
}
