import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { run } from '../cli.js';
import { Exit } from '../exit-codes.js';

// vigil import and export without a server: help, usage, and a file found
// invalid before any connection (the calls are tested in test/src/xep0227-migration.test.ts).

async function vigil(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
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

test('vigil import and export have help, and are listed in the top help', async () => {
  for (const name of ['import', 'export']) {
    const r = await vigil([name, '--help']);
    assert.equal(r.code, Exit.OK);
    assert.match(r.stdout, new RegExp(`^Usage: vigil ${name} `));
    assert.match(r.stdout, /Exit codes:/);
  }
  assert.match((await vigil(['--help'])).stdout, /import <file> .*XEP-0227/);
});

test('import without a file, or with two, is a usage error', async () => {
  assert.equal((await vigil(['import'])).code, Exit.USAGE);
  assert.equal((await vigil(['import', 'a.xml', 'b.xml'])).code, Exit.USAGE);
  assert.match((await vigil(['export', '--page-size', '5000'], { VIGIL_TOKEN: 'some-token-of-16-chars' })).stderr, /--page-size: 1 to 1000/);
});

test('a file with errors is reported line by line and refused before any token or connection is needed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-import-'));
  try {
    const file = join(dir, 'f.xml');
    writeFileSync(file, `<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='localhost'>\n<user name='a b' password='pass-a'/>\n<user name='c' password='p'/>\n</host>\n</server-data>\n`);
    const r = await vigil(['import', file]);
    assert.equal(r.code, Exit.USAGE);
    assert.deepEqual(r.stderr.trimEnd().split('\n').map((l) => l.replace(dir, 'DIR')), [
      'DIR/f.xml:3:1: error: username: "a b" is not a valid JID localpart: localpart contains whitespace: U+0020, which the IdentifierClass does not allow',
      'DIR/f.xml:4:1: error: password: a password has 4 to 1024 characters',
      'DIR/f.xml: 2 errors, 0 warnings: nothing imported (--skip-invalid imports the valid accounts)',
    ]);
    const inc = join(dir, 'inc.xml');
    writeFileSync(inc, `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='../../etc/passwd'/></server-data>`);
    assert.match((await vigil(['import', inc])).stderr, /error: xi:include: cannot include \.\.\/\.\.\/etc\/passwd: only relative paths/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
