import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import type { Io } from './command.js';
import { UsageError } from './exit-codes.js';
import { firstLine, PasswordLine, readPassword } from './password.js';

test('the no-echo prompt edits a line: backspace, Ctrl-U, Enter, Ctrl-C, Ctrl-D', () => {
  const line = new PasswordLine();
  assert.equal(line.feed('secrx'), 'more');
  assert.equal(line.feed('\u007fet'), 'more');
  assert.equal(line.feed('\r'), 'done');
  assert.equal(line.value, 'secret');

  const cleared = new PasswordLine();
  cleared.feed('wrong\u0015right\u001b');
  assert.equal(cleared.value, 'right', 'Ctrl-U clears; other control characters are ignored');
  assert.equal(new PasswordLine().feed('ab\u0003'), 'interrupt');
  assert.equal(new PasswordLine().feed('\u0004'), 'eof');
  assert.equal(new PasswordLine().feed('x\u0004'), 'more', 'Ctrl-D ends only an empty line');
});

const io = (input: string[]): Io => ({
  stdin: Readable.from(input.map((s) => Buffer.from(s)), { objectMode: false }),
  stdout: new Writable({ write: (_c, _e, cb) => cb() }),
  stderr: new Writable({ write: (_c, _e, cb) => cb() }),
  env: {},
  onInterrupt: () => () => undefined,
});

test('without a terminal the password is the first line of stdin', async () => {
  assert.equal(await readPassword(io(['pass', 'word\r\nsecond line\n']), 'alice', false), 'password');
  assert.equal(await firstLine(io(['no newline at the end']).stdin), 'no newline at the end');
  await assert.rejects(readPassword(io([]), 'alice', true), UsageError);
  await assert.rejects(readPassword(io(['\n']), 'alice', false), UsageError);
});
