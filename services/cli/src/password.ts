import type { Io } from './command.js';
import { CliError, Exit, UsageError } from './exit-codes.js';

/**
 * Keys typed at a password prompt in raw mode: Enter ends the line,
 * Backspace removes the last character, Ctrl-C interrupts, Ctrl-D on an
 * empty line gives up, Ctrl-U clears; other control characters are ignored.
 */
export class PasswordLine {
  #chars: string[] = [];

  /** Takes one chunk of input; says whether the line is done, still being typed, or abandoned. */
  feed(chunk: string): 'more' | 'done' | 'interrupt' | 'eof' {
    for (const c of chunk) {
      if (c === '\r' || c === '\n') return 'done';
      if (c === '\u0003') return 'interrupt';
      if (c === '\u0004') {
        if (this.#chars.length === 0) return 'eof';
        continue;
      }
      if (c === '\u007f' || c === '\b') this.#chars.pop();
      else if (c === '\u0015') this.#chars = [];
      else if (c >= ' ') this.#chars.push(c);
    }
    return 'more';
  }

  get value(): string {
    return this.#chars.join('');
  }
}

/** One line typed without echo on the terminal. */
async function prompt(io: Io, text: string): Promise<string> {
  const { stdin, stderr } = io;
  stderr.write(text);
  stdin.setRawMode?.(true);
  stdin.setEncoding('utf8');
  const line = new PasswordLine();
  try {
    const outcome = await new Promise<'done' | 'interrupt' | 'eof'>((resolve) => {
      const onData = (chunk: string): void => {
        const r = line.feed(chunk);
        if (r !== 'more') finish(r);
      };
      const onEnd = (): void => finish('eof');
      const finish = (r: 'done' | 'interrupt' | 'eof'): void => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        resolve(r);
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    });
    stderr.write('\n');
    if (outcome === 'interrupt') throw new CliError(Exit.INTERRUPTED, 'interrupted');
    if (outcome === 'eof') throw new UsageError('no password entered');
    return line.value;
  } finally {
    stdin.setRawMode?.(false);
    stdin.pause();
  }
}

/** The first line of standard input (without its line break). */
export async function firstLine(stdin: Io['stdin']): Promise<string | undefined> {
  stdin.setEncoding('utf8');
  let text = '';
  let sawAny = false;
  for await (const chunk of stdin) {
    sawAny = true;
    text += String(chunk);
    const nl = text.indexOf('\n');
    if (nl >= 0) {
      text = text.slice(0, nl);
      break;
    }
  }
  stdin.pause();
  if (!sawAny) return undefined;
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

/**
 * A new password for `username`, never from argv: a prompt without echo
 * (typed twice) when stdin is a terminal, else the first line of stdin;
 * `--password-stdin` reads stdin even from a terminal.
 */
export async function readPassword(io: Io, username: string, fromStdin: boolean): Promise<string> {
  if (fromStdin || io.stdin.isTTY !== true) {
    const line = await firstLine(io.stdin);
    if (line === undefined || line === '') throw new UsageError('no password on standard input (its first line is the password)');
    return line;
  }
  const first = await prompt(io, `New password for ${username}: `);
  if (first === '') throw new UsageError('no password entered');
  const again = await prompt(io, 'Repeat it: ');
  if (again !== first) throw new UsageError('the two passwords differ');
  return first;
}
