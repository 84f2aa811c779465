import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DeadlineError } from './wait.js';

export type LogRecord = Record<string, unknown>;

interface Waiter {
  readonly predicate: (r: LogRecord) => boolean;
  readonly resolve: (r: LogRecord) => void;
}

/**
 * A service run as a real child process. Its stdout is one JSON log record
 * per line; tests wait on those records instead of sleeping.
 */
export class ChildService {
  readonly records: LogRecord[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #maxRecords = 10_000;

  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
    echo: boolean,
  ) {
    this.#exited = new Promise((resolve) => process.once('exit', (code, signal) => resolve({ code, signal })));
    if (process.stdout) {
      createInterface({ input: process.stdout }).on('line', (line) => {
        if (echo) globalThis.process.stdout.write(`[${name}] ${line}\n`);
        const rec = parseRecord(line);
        if (this.records.length >= this.#maxRecords) this.records.shift();
        this.records.push(rec);
        for (const w of this.#waiters) {
          if (w.predicate(rec)) {
            this.#waiters.delete(w);
            w.resolve(rec);
          }
        }
      });
    }
    if (process.stderr) {
      createInterface({ input: process.stderr }).on('line', (line) => {
        if (echo || /Error|error/.test(line)) globalThis.process.stderr.write(`[${name}] ${line}\n`);
      });
    }
  }

  /**
   * `detached` puts the child in its own process group, so a Ctrl-C at the
   * terminal reaches only the launcher, which then stops children in order.
   */
  static spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, echo = false, detached = false): ChildService {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached });
    return new ChildService(name, child, echo);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited;
  }

  /** Resolves with the first record (already seen or future) matching `predicate`. */
  waitForLog(predicate: (r: LogRecord) => boolean, timeoutMs: number, what: string): Promise<LogRecord> {
    const seen = this.records.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new DeadlineError(`${this.name}: ${what}`, timeoutMs));
      }, timeoutMs);
      this.#waiters.add(waiter);
      void this.#exited.then(({ code, signal }) => {
        if (!this.#waiters.has(waiter)) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        // The last error it logged says why (a start-up failure logs 'failed to start' with the cause).
        const last = [...this.records].reverse().find((r) => r.level === 'error');
        const why = last ? `: ${JSON.stringify(last).slice(0, 600)}` : '';
        reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) while waiting for ${what}${why}`));
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

function parseRecord(line: string): LogRecord {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as LogRecord) : { msg: line };
  } catch {
    return { msg: line, unstructured: true };
  }
}
