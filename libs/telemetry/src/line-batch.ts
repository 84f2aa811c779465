/**
 * Log lines written in one event-loop turn leave in one write. Every
 * `process.stdout.write` to a pipe is a system call of its own (and wakes
 * whatever reads the pipe): a connection node logging a line per login made
 * one such call per line during a login storm.
 */
export interface LineBatchOptions {
  /** Where a batch goes (one call per batch). */
  readonly write: (text: string) => void;
  /** Runs `fn` at the end of this turn; `setImmediate` by default. */
  readonly schedule?: (fn: () => void) => void;
  /** A batch this long (UTF-16 units) is written at once, not at the end of the turn. */
  readonly maxChars?: number;
}

export interface LineBatch {
  /** Adds one line (with its newline) to this turn's batch. */
  readonly write: (line: string) => void;
  /** Writes what is pending now (at exit, or before a deliberate crash). */
  readonly flush: () => void;
}

const DEFAULT_MAX_CHARS = 64 * 1024;

export function lineBatch(options: LineBatchOptions): LineBatch {
  const schedule = options.schedule ?? ((fn: () => void) => void setImmediate(fn));
  const maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
  let pending = '';
  let scheduled = false;
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    options.write(text);
  };
  const onTurnEnd = (): void => {
    scheduled = false;
    flush();
  };
  const write = (line: string): void => {
    pending += line;
    if (pending.length >= maxChars) return flush();
    if (scheduled) return;
    scheduled = true;
    schedule(onTurnEnd);
  };
  return { write, flush };
}

let stdoutBatch: LineBatch | undefined;

/**
 * The process's stdout as a LineBatch, made once: lines keep their order,
 * a turn's lines leave together, and what is pending is written when the
 * process exits (`process.exit()` included; not on SIGKILL, which also
 * loses what a write in flight would have carried).
 */
export function batchedStdout(): LineBatch {
  if (stdoutBatch !== undefined) return stdoutBatch;
  const batch = lineBatch({ write: (text) => void process.stdout.write(text) });
  process.once('exit', batch.flush);
  stdoutBatch = batch;
  return batch;
}
