import { status, type ServiceError } from '@grpc/grpc-js';

/** What `vigil` exits with; documented in `vigil --help` and README.md. */
export const Exit = {
  OK: 0,
  /** Bad command line, or input the server refused as invalid (INVALID_ARGUMENT, OUT_OF_RANGE). */
  USAGE: 1,
  /** NOT_FOUND: no such account, roster item or session. */
  NOT_FOUND: 2,
  /** No token, or the server refused it: UNAUTHENTICATED, PERMISSION_DENIED. */
  AUTH: 3,
  /** The server cannot be reached or did not answer in time: UNAVAILABLE, DEADLINE_EXCEEDED. Retrying may help. */
  UNAVAILABLE: 4,
  /** Any other error status (RESOURCE_EXHAUSTED, FAILED_PRECONDITION, INTERNAL, …). */
  SERVER: 5,
  /** ALREADY_EXISTS: the account to create exists. */
  EXISTS: 6,
  /** Ctrl-C at a password prompt (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    success (and Ctrl-C ending 'presence watch')
  1    usage error: bad arguments or options, or input the server refused (INVALID_ARGUMENT)
  2    not found: no such account, roster item or session (NOT_FOUND)
  3    no token, or the token was refused (UNAUTHENTICATED, PERMISSION_DENIED)
  4    server unreachable, too slow or ended the watch (UNAVAILABLE, DEADLINE_EXCEEDED): retry
  5    any other server error (RESOURCE_EXHAUSTED, FAILED_PRECONDITION, INTERNAL, ...)
  6    already exists (ALREADY_EXISTS)
  130  interrupted at a password prompt`;

/** A failure found by the command line itself, with the exit code to use. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line: exit code 1. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(Exit.USAGE, message);
    this.name = 'UsageError';
  }
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && 'code' in e && typeof e.code === 'number' && 'details' in e && 'metadata' in e;
}

/** The exit code for a gRPC status. */
export function exitCodeOf(code: status): number {
  switch (code) {
    case status.OK:
      return Exit.OK;
    case status.INVALID_ARGUMENT:
    case status.OUT_OF_RANGE:
      return Exit.USAGE;
    case status.NOT_FOUND:
      return Exit.NOT_FOUND;
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return Exit.AUTH;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return Exit.UNAVAILABLE;
    case status.ALREADY_EXISTS:
      return Exit.EXISTS;
    default:
      return Exit.SERVER;
  }
}

/** Control characters and line breaks as spaces: an error is one line. */
export const oneLine = (s: string): string => Array.from(s, (c) => (c < ' ' || c === '\u007f' ? ' ' : c)).join('').trim();

/** The stderr line and exit code for anything a command threw. */
export function describeError(e: unknown, server: string): { readonly line: string; readonly exitCode: number } {
  if (isServiceError(e)) {
    const name = status[e.code] ?? `status ${e.code}`;
    const where = e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED ? ` (server ${server})` : '';
    // grpc-js ends a failed connection's message with an empty "Resolution note:".
    const message = oneLine(e.details).replace(/\s*Resolution note:$/, '') || 'no message';
    return { line: `${name}: ${message}${where}`, exitCode: exitCodeOf(e.code) };
  }
  if (e instanceof CliError) return { line: oneLine(e.message), exitCode: e.exitCode };
  return { line: `unexpected error: ${oneLine(e instanceof Error ? e.message : String(e))}`, exitCode: Exit.SERVER };
}
