import { commandWords, GLOBAL_OPTIONS, parseCommandLine, type Command, type Context, type Group, type Io, type Options } from './command.js';
import { accounts } from './commands/accounts.js';
import { cluster } from './commands/cluster.js';
import { exportCommand, importCommand } from './commands/migration.js';
import { presence } from './commands/presence.js';
import { roster } from './commands/roster.js';
import { sessions } from './commands/sessions.js';
import { Api, bearerToken, endpoint, DEFAULT_SERVER } from './connection.js';
import { describeError, EXIT_CODES_HELP, Exit } from './exit-codes.js';

export const GROUPS: readonly Group[] = [accounts, roster, presence, sessions, cluster];
/** Commands of one word, without subcommands. */
export const STANDALONE: readonly Command[] = [importCommand, exportCommand];

function optionLines(options: Options): string[] {
  const heads = Object.entries(options).map(([name, o]) => [`${o.short !== undefined ? `-${o.short}, ` : ''}--${name}${o.value !== undefined ? ` ${o.value}` : ''}`, o.help] as const);
  const width = Math.max(...heads.map(([h]) => h.length));
  return heads.map(([h, text]) => `  ${h.padEnd(width)}  ${text}`);
}

const GLOBAL_HELP = ['Options of every command:', ...optionLines(GLOBAL_OPTIONS)].join('\n');

function topHelp(): string {
  const heads = [
    ...GROUPS.map((g) => [`${g.name} ${g.commands.map((c) => c.name).join('|')}`, g.summary] as const),
    ...STANDALONE.map((c) => [`${c.name} ${c.args}`, c.summary] as const),
  ];
  const width = Math.max(...heads.map(([h]) => h.length));
  return `vigil: the command line for Vigil's gRPC API (vigil.presence.v1)

Usage: vigil <command> <subcommand> [arguments] [options]
       vigil import|export [file] [options]

Commands:
${heads.map(([h, s]) => `  ${h.padEnd(width)}  ${s}`).join('\n')}

${GLOBAL_HELP}

Environment:
  VIGIL_GRPC_SERVER  the API's HOST:PORT (default ${DEFAULT_SERVER}); --server wins
  VIGIL_TOKEN        bearer token, scope read (get, list, watch) or admin (everything);
                     --token and --token-file win. Tokens are never printed.
  VIGIL_GRPC_TLS, VIGIL_GRPC_CA_FILE, VIGIL_GRPC_CERT_FILE, VIGIL_GRPC_KEY_FILE,
  VIGIL_GRPC_TLS_SERVER_NAME
                     TLS settings, as --tls, --ca, --cert, --key, --tls-server-name

The connection is plain gRPC unless a TLS option or variable is given (the
dev cluster's API listens on loopback without TLS). A server with mutual TLS
refuses a client without --cert and --key: exit code 4.
'vigil <command> --help' and 'vigil <command> <subcommand> --help' tell more.

Errors go to stderr as one line with the gRPC status and the server's message.

${EXIT_CODES_HELP}`;
}

function groupHelp(g: Group): string {
  const heads = g.commands.map((c) => [`${c.name}${c.args === '' ? '' : ` ${c.args}`}`, c.summary] as const);
  const width = Math.max(...heads.map(([h]) => h.length));
  return `Usage: vigil ${g.name} <subcommand> [arguments] [options]

${g.summary[0]?.toUpperCase() ?? ''}${g.summary.slice(1)}.

Subcommands:
${heads.map(([h, s]) => `  ${h.padEnd(width)}  ${s}`).join('\n')}

'vigil ${g.name} <subcommand> --help' tells more; 'vigil --help' lists the
options of every command and the exit codes.`;
}

function commandHelp(g: Group | undefined, c: Command): string {
  const own = c.options !== undefined && Object.keys(c.options).length > 0 ? `Options:\n${optionLines(c.options).join('\n')}\n\n` : '';
  return `Usage: vigil ${g === undefined ? '' : `${g.name} `}${c.name}${c.args === '' ? '' : ` ${c.args}`} [options]

${c.summary[0]?.toUpperCase() ?? ''}${c.summary.slice(1)}.

${c.description}

${own}${GLOBAL_HELP}

${EXIT_CODES_HELP}`;
}

/** Finds the command, parses, runs; resolves with the exit code. Never throws. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const out = (text: string): void => void io.stdout.write(`${text}\n`);
  const fail = (where: string, line: string): void => void io.stderr.write(`${where}: ${line}\n`);
  if (argv[0] === 'help') return run([...argv.slice(1), '--help'], io);
  const { words, help } = commandWords(argv);
  const [groupName, commandName] = words;
  const usage = (where: string, line: string): number => {
    fail(where, line);
    return Exit.USAGE;
  };
  const helped = (text: string): number => {
    out(text);
    return Exit.OK;
  };
  if (groupName === undefined) {
    if (help) return helped(topHelp());
    if (argv.length === 0) {
      io.stderr.write(`${topHelp()}\n`);
      return Exit.USAGE;
    }
    return usage('vigil', "a command is required (see 'vigil --help')");
  }
  const standalone = STANDALONE.find((c) => c.name === groupName);
  if (standalone !== undefined) {
    if (help) return helped(commandHelp(undefined, standalone));
    return runCommand(argv, io, standalone, `vigil ${standalone.name}`, 1, out, fail);
  }
  const group = GROUPS.find((g) => g.name === groupName);
  if (group === undefined) {
    const names = [...GROUPS.map((g) => g.name), ...STANDALONE.map((c) => c.name)];
    return usage('vigil', `unknown command ${JSON.stringify(groupName)}: one of ${names.join(', ')} (see 'vigil --help')`);
  }
  const known = group.commands.map((c) => c.name).join(', ');
  if (commandName === undefined) {
    if (help) return helped(groupHelp(group));
    return usage(`vigil ${group.name}`, `a subcommand is required: ${known} (see 'vigil ${group.name} --help')`);
  }
  const command = group.commands.find((c) => c.name === commandName);
  if (command === undefined) return usage(`vigil ${group.name}`, `unknown subcommand ${JSON.stringify(commandName)}: one of ${known} (see 'vigil ${group.name} --help')`);
  if (help) return helped(commandHelp(group, command));
  return runCommand(argv, io, command, `vigil ${group.name} ${command.name}`, 2, out, fail);
}

async function runCommand(
  argv: readonly string[],
  io: Io,
  command: Command,
  where: string,
  words: number,
  out: (text: string) => void,
  fail: (where: string, line: string) => void,
): Promise<number> {
  let connection: Api | undefined;
  let server = DEFAULT_SERVER;
  try {
    const { values, args } = parseCommandLine(argv, command, where, words);
    const target = endpoint(values, io.env);
    server = target.server;
    const ctx: Context = {
      io,
      json: values.json === true,
      args,
      values,
      api: () => (connection ??= new Api(target, bearerToken(values, io.env))),
      print: out,
      printJson: (value) => out(JSON.stringify(value, null, 2)),
    };
    return await command.run(ctx);
  } catch (e) {
    const { line, exitCode } = describeError(e, server);
    fail(where, line);
    return exitCode;
  } finally {
    connection?.close();
  }
}
