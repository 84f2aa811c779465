import type { Logger } from './log.js';

/** What a shutdown needs of a message-bus connection: flush, or failing that, close. */
export interface Drainable {
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * SIGTERM and SIGINT run `stop` once, then `bus` is drained and the process
 * exits 0. A failing stop is logged and exits 1: a supervisor should see it.
 */
export function stopOnSignals(log: Logger, bus: Drainable, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const run = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    let code = 0;
    try {
      await stop(signal);
    } catch (e) {
      log.error('shutdown step failed', { err: e });
      code = 1;
    }
    try {
      await bus.drain();
    } catch (e) {
      // The bus may already be gone (stopped first): nothing left to flush to.
      log.warn('drain failed at shutdown', { err: e });
      await bus.close().catch(() => undefined);
    }
    log.info('stopped');
    process.exit(code);
  };
  process.on('SIGTERM', () => void run('SIGTERM'));
  process.on('SIGINT', () => void run('SIGINT'));
}
