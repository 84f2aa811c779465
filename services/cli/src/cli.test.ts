import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { Readable, Writable } from 'node:stream';
import { GROUPS, run } from './cli.js';
import { commandWords } from './command.js';
import { describeError, Exit, exitCodeOf } from './exit-codes.js';

// The command line without a server: help, usage errors, exit codes. The
// calls themselves are tested against a real cluster in test/src/cli.test.ts.

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function vigil(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: new Writable({ write: (c: Buffer, _e, cb) => ((stdout += c.toString()), cb()) }),
    stderr: new Writable({ write: (c: Buffer, _e, cb) => ((stderr += c.toString()), cb()) }),
    stdin: Readable.from([]),
    env,
    onInterrupt: () => () => undefined,
  });
  return { code, stdout, stderr };
}

test('--help works on vigil, every command and every subcommand, and lists the exit codes', async () => {
  const top = await vigil(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Exit codes:/);
  for (const g of GROUPS) {
    const group = await vigil([g.name, '--help']);
    assert.equal(group.code, 0, g.name);
    for (const c of g.commands) {
      assert.match(group.stdout, new RegExp(`\\b${c.name}\\b`));
      const one = await vigil([g.name, c.name, '-h']);
      assert.equal(one.code, 0, `${g.name} ${c.name}`);
      assert.match(one.stdout, new RegExp(`^Usage: vigil ${g.name} ${c.name}`));
      assert.match(one.stdout, /Exit codes:/);
      assert.equal(one.stderr, '');
    }
  }
  assert.equal((await vigil(['help', 'roster'])).stdout, (await vigil(['roster', '--help'])).stdout);
});

test('usage errors are one line on stderr and exit code 1', async () => {
  for (const argv of [[], ['nope'], ['accounts'], ['accounts', 'frob'], ['roster', 'add', 'a@x'], ['cluster', 'nodes', '--bogus'], ['cluster', 'nodes', 'extra'], ['presence', 'watch', 'a@x', '--cause', 'lost'], ['cluster', 'nodes', '--timeout', '-1']]) {
    const r = await vigil(argv, { VIGIL_TOKEN: 'some-token-of-16-chars' });
    assert.equal(r.code, Exit.USAGE, argv.join(' '));
    assert.equal(r.stdout, '');
    if (argv.length > 0) assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

test('a password given as an argument is refused and not echoed', async () => {
  const r = await vigil(['accounts', 'create', 'alice', 'hunter2-secret']);
  assert.equal(r.code, Exit.USAGE);
  assert.doesNotMatch(r.stderr, /hunter2/);
});

test('no token is exit code 3, before any connection', async () => {
  const r = await vigil(['cluster', 'nodes', '--server', '127.0.0.1:1']);
  assert.equal(r.code, Exit.AUTH);
  assert.match(r.stderr, /no token: set VIGIL_TOKEN/);
  const both = await vigil(['cluster', 'nodes', '--token', 'x', '--token-file', '/nonexistent']);
  assert.equal(both.code, Exit.USAGE);
  assert.doesNotMatch(both.stderr, /--token x/);
});

test('global options may come before the command', () => {
  assert.deepEqual(commandWords(['--server', 'h:1', '--json', 'cluster', 'nodes', 'x']), { words: ['cluster', 'nodes'], help: false });
  assert.deepEqual(commandWords(['--token=abc', 'roster', '-h']), { words: ['roster'], help: true });
});

test('gRPC statuses map to documented exit codes; errors name the status', () => {
  assert.deepEqual(
    [status.INVALID_ARGUMENT, status.NOT_FOUND, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.ALREADY_EXISTS, status.INTERNAL, status.RESOURCE_EXHAUSTED].map(exitCodeOf),
    [1, 2, 3, 3, 4, 4, 6, 5, 5],
  );
  const e = Object.assign(new Error('5 NOT_FOUND: no account x@y'), { code: status.NOT_FOUND, details: 'no account x@y', metadata: {} });
  assert.deepEqual(describeError(e, 'h:1'), { line: 'NOT_FOUND: no account x@y', exitCode: 2 });
  const u = Object.assign(new Error(''), { code: status.UNAVAILABLE, details: 'No connection established.\nLast error: ECONNREFUSED. Resolution note:', metadata: {} });
  assert.deepEqual(describeError(u, 'h:1'), { line: 'UNAVAILABLE: No connection established. Last error: ECONNREFUSED. (server h:1)', exitCode: 4 });
});
