import { createLogger } from '@vigil/telemetry';
import { readConsoleConfig } from './config.js';
import { startConsole } from './server.js';

/** `node services/console/dist/main.js`: the web console as its own process. */
async function main(): Promise<void> {
  const config = readConsoleConfig(process.env);
  const log = createLogger({ service: 'console' }, { level: config.logLevel });
  const server = await startConsole(config, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    server.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (e: unknown) => {
        log.error('shutdown failed', { err: e });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  // Configuration and start errors name the setting or the file at fault.
  console.error(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'console failed to start', service: 'console', error: e instanceof Error ? e.message : String(e) }));
  process.exit(1);
});
