import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import type { Api } from './connection.js';
import { UsageError } from './exit-codes.js';

/** Where a run reads and writes; the real process in main.ts, fakes in tests. */
export interface Io {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable & { readonly isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Registers a handler for SIGINT and SIGTERM; returns a function that removes it. */
  readonly onInterrupt: (handler: () => void) => () => void;
}

/** An option as node:util parseArgs takes it, with its help text. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Placeholder of a string option's value in the help, e.g. `NAME`. */
  readonly value?: string;
  readonly help: string;
}

export type Options = Readonly<Record<string, OptionSpec>>;

/** Option values as parseArgs returns them. */
export type Values = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** What a command runs with. */
export interface Context {
  readonly io: Io;
  /** `--json`: machine-readable output. */
  readonly json: boolean;
  /** Positional arguments after the command's two words. */
  readonly args: readonly string[];
  readonly values: Values;
  /** The API connection, made on first use (so usage errors need no token). */
  api(): Api;
  /** Writes text and a line break to stdout. */
  print(text: string): void;
  /** Writes one JSON document to stdout. */
  printJson(value: unknown): void;
}

export interface Command {
  readonly name: string;
  /** Positional arguments in the usage line, e.g. `<jid> <contact-jid>`. */
  readonly args: string;
  /** Fewest and most positional arguments. */
  readonly arity: readonly [min: number, max: number];
  readonly summary: string;
  /** Paragraphs after the usage line in `--help`. */
  readonly description: string;
  readonly options?: Options;
  /** Runs the command; resolves with the exit code, or throws (see describeError). */
  run(ctx: Context): Promise<number>;
}

export interface Group {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command[];
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Options = {
  server: { type: 'string', value: 'HOST:PORT', help: 'the gRPC API (env VIGIL_GRPC_SERVER; default 127.0.0.1:50051)' },
  token: { type: 'string', value: 'TOKEN', help: 'bearer token (env VIGIL_TOKEN, which, like --token-file, keeps it out of ps)' },
  'token-file': { type: 'string', value: 'FILE', help: 'read the bearer token from FILE' },
  tls: { type: 'boolean', help: "TLS with the system's CAs (env VIGIL_GRPC_TLS=true); --ca, --cert and --tls-server-name imply it" },
  ca: { type: 'string', value: 'FILE', help: "trust the server certificate's CA in this PEM file (env VIGIL_GRPC_CA_FILE)" },
  cert: { type: 'string', value: 'FILE', help: 'client certificate, PEM, for a server requiring mutual TLS (env VIGIL_GRPC_CERT_FILE)' },
  key: { type: 'string', value: 'FILE', help: "the client certificate's private key, PEM (env VIGIL_GRPC_KEY_FILE)" },
  'tls-server-name': { type: 'string', value: 'NAME', help: "name the server certificate must carry, when not --server's host (env VIGIL_GRPC_TLS_SERVER_NAME)" },
  timeout: { type: 'string', value: 'SECONDS', help: 'deadline of each call (default 30; presence watch has none)' },
  json: { type: 'boolean', help: 'machine-readable output: one JSON document (one object per line for presence watch)' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(values: Values, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function flag(values: Values, name: string): boolean {
  return values[name] === true;
}

/** The words before any option value: `[group, command]` as typed, and whether help was asked for. */
export function commandWords(argv: readonly string[]): { readonly words: string[]; readonly help: boolean } {
  const words: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') break;
    if (a === '--help' || a === '-h') help = true;
    else if (a.startsWith('-') && a !== '-') {
      const name = a.replace(/^--?/, '');
      if (GLOBAL_OPTIONS[name]?.type === 'string') i++; // its value
    } else if (words.length < 2) words.push(a);
  }
  return { words, help };
}

function isParseArgsError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS_');
}

/** Parses argv for `command` (global options included); the positionals exclude the command's words (two, or one for a command without group). */
export function parseCommandLine(argv: readonly string[], command: Command, where: string, commandWordCount = 2): { values: Values; args: string[] } {
  const options = Object.fromEntries(
    Object.entries({ ...GLOBAL_OPTIONS, ...command.options }).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  );
  let parsed: { values: Values; positionals: string[] };
  try {
    // Dynamic options: parseArgs cannot type the values, hence Values.
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    // parseArgs explains at length; the first sentence is the point.
    if (isParseArgsError(e)) throw new UsageError(`${e.message.split('. ')[0] ?? e.message} (see ${where} --help)`);
    throw e;
  }
  const args = parsed.positionals.slice(commandWordCount);
  const [min, max] = command.arity;
  // Extra arguments are not echoed: one might be a password typed where it does not belong.
  if (args.length < min) throw new UsageError(`missing argument (usage: ${where} ${command.args})`);
  if (args.length > max) throw new UsageError(`too many arguments, expected ${command.args || 'none'} (see ${where} --help)`);
  return { values: parsed.values, args };
}
