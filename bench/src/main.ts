/**
 * `node bench/dist/main.js [scenario] [--trials N] [--size N] …`: runs every
 * scenario, or the one named; each prints its JSON report and a one-line
 * summary and appends the JSON to bench/results/<scenario>.jsonl.
 */
import { parseArgs } from 'node:util';
import { appendResult, printReport } from './report.js';
import { SCENARIOS, type CommonOptions } from './scenarios/index.js';

/** Exit codes: 0 done, 1 a scenario failed, 2 bad command line, 130 interrupted (the shell's Ctrl-C code). */
const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function usage(): string {
  const width = Math.max(...SCENARIOS.map((s) => s.name.length));
  return [
    'usage: node bench/dist/main.js [scenario] [options]',
    '',
    'Runs every scenario, or only the one named. Each prints a JSON report and a',
    'one-line summary, and appends the JSON to bench/results/<scenario>.jsonl.',
    '',
    'scenarios:',
    ...SCENARIOS.map((s) => `  ${s.name.padEnd(width)}  ${s.description}\n  ${''.padEnd(width)}  --size: ${s.size}`),
    '',
    'options:',
    '  --trials N        measured trials (scenario default otherwise)',
    '  --size N          scenario-specific population size (see above)',
    '  --concurrency N   trials in flight at once',
    '  --warmup N        unmeasured trials run first',
    '  --contacts K      contacts per user (login-rate and the fan-out scenarios)',
    '  --nodes M         connection nodes (fan-out scenarios: victims on one, observers on the others)',
    '  --client NAME     grpc only: the load processes\' gRPC client, raw (default), http2 or grpc-js',
    '  --seconds S       grpc only: seconds of measured GetPresence load (default 10)',
    '  --warmup-seconds S  grpc only: seconds of unmeasured load at the same rate first (default 10)',
    '  -h, --help        this text',
  ].join('\n');
}

function count(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

function parse(argv: string[]): { help: boolean; names: string[]; options: CommonOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        trials: { type: 'string' },
        size: { type: 'string' },
        concurrency: { type: 'string' },
        warmup: { type: 'string' },
        contacts: { type: 'string' },
        nodes: { type: 'string' },
        client: { type: 'string' },
        seconds: { type: 'string' },
        'warmup-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`at most one scenario, got ${positionals.join(' ')}`);
  const names = positionals.length === 0 ? SCENARIOS.map((s) => s.name) : positionals;
  for (const name of names) {
    if (!SCENARIOS.some((s) => s.name === name)) {
      throw new UsageError(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    }
  }
  if (values.client !== undefined && names.some((n) => n !== 'grpc')) throw new UsageError('--client applies to the grpc scenario only; name it');
  if (values.seconds !== undefined && names.some((n) => n !== 'grpc')) throw new UsageError('--seconds applies to the grpc scenario only; name it');
  if (values['warmup-seconds'] !== undefined && names.some((n) => n !== 'grpc')) throw new UsageError('--warmup-seconds applies to the grpc scenario only; name it');
  if (values.warmup !== undefined && names.length === 1 && names[0] === 'grpc') throw new UsageError('grpc warms up for a time, not a number of trials: use --warmup-seconds');
  const options: CommonOptions = {
    ...(values.trials !== undefined ? { trials: count('trials', values.trials, 1) } : {}),
    ...(values.size !== undefined ? { size: count('size', values.size, 0) } : {}),
    ...(values.concurrency !== undefined ? { concurrency: count('concurrency', values.concurrency, 1) } : {}),
    ...(values.warmup !== undefined ? { warmup: count('warmup', values.warmup, 0) } : {}),
    ...(values.contacts !== undefined ? { contacts: count('contacts', values.contacts, 1) } : {}),
    ...(values.nodes !== undefined ? { nodes: count('nodes', values.nodes, 2) } : {}),
    ...(values.client !== undefined ? { client: values.client } : {}),
    ...(values.seconds !== undefined ? { seconds: count('seconds', values.seconds, 1) } : {}),
    ...(values['warmup-seconds'] !== undefined ? { warmupSeconds: count('warmup-seconds', values['warmup-seconds'], 0) } : {}),
  };
  return { help: values.help === true, names, options };
}

async function main(argv: string[]): Promise<number> {
  let command;
  try {
    command = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message} (see --help)\n`);
    return EXIT.usage;
  }
  if (command.help) {
    process.stdout.write(`${usage()}\n`);
    return EXIT.ok;
  }
  // Ctrl-C: no new trials start, running ones finish, the cluster is stopped; a second Ctrl-C exits at once.
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write('bench: interrupted; finishing running trials and stopping the cluster (Ctrl-C again to exit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    for (const name of command.names) {
      const scenario = SCENARIOS.find((s) => s.name === name);
      if (scenario === undefined) continue;
      try {
        const report = await scenario.run({ ...command.options, signal: abort.signal });
        printReport(report);
        // A run cut short is shown, not kept: results files hold complete runs only.
        if (abort.signal.aborted) process.stderr.write('bench: interrupted, so not appended to bench/results\n');
        else process.stderr.write(`bench: appended to ${await appendResult(report)}\n`);
      } catch (e) {
        process.stderr.write(`bench: scenario ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        return EXIT.failed;
      }
      if (abort.signal.aborted) break;
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  return abort.signal.aborted ? EXIT.interrupted : EXIT.ok;
}

process.exitCode = await main(process.argv.slice(2));
