import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { generatePopulation, parsePie, writeDocument, type PieAccount } from '@vigil/pie';
import { deriveScramCredential } from '@vigil/xmpp';
import { Cluster, DeadlineError, TestClient, type GrpcAccess } from '@vigil/testkit';

// XEP-0227 import and export through the built `vigil` command line against
// a real cluster (one authority serving the gRPC API, one connection node).
const MAIN = fileURLToPath(new URL('../../services/cli/dist/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/ejabberd-piefxis/', import.meta.url));
const DEADLINE_MS = 60_000;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The main file ejabberd wrote (it XIncludes the host file beside it). */
const fixture = (kind: string): string => {
  const dir = join(FIXTURES, kind);
  const main = readdirSync(dir).find((f) => /^\d{8}-\d{6}\.xml$/.test(f));
  assert.ok(main);
  return join(dir, main);
};

const byName = (accounts: readonly PieAccount[]): PieAccount[] => [...accounts].sort((a, b) => a.username.localeCompare(b.username));
/** What an export must give back of an import: everything but where it was read. */
const comparable = (a: PieAccount): unknown => ({
  username: a.username,
  scram: byHash(a.scram).map((c) => ({ ...c, salt: c.salt.toString('base64'), storedKey: c.storedKey.toString('base64'), serverKey: c.serverKey.toString('base64') })),
  items: a.items.map((i) => ({ jid: i.jid, name: i.name, subscription: i.subscription, pendingOut: i.pendingOut, approved: i.approved, groups: [...i.groups] })),
  pendingIn: a.pendingIn.map((p) => ({ from: p.from, status: p.status })),
  blocked: [...a.blocked],
});
const byHash = <T extends { hash: string }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => a.hash.localeCompare(b.hash));

describe('XEP-0227 migration: vigil import and vigil export', () => {
  let cluster: Cluster;
  let grpc: GrpcAccess;
  let dir: string;
  const clients: TestClient[] = [];

  const vigil = (args: readonly string[], token: string | null = grpc.adminToken): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_GRPC_SERVER: grpc.address(0) };
      delete env.VIGIL_TOKEN;
      if (token !== null) env.VIGIL_TOKEN = token;
      const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new DeadlineError(`vigil ${args.join(' ')}`, DEADLINE_MS));
      }, DEADLINE_MS);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  const ok = async (args: readonly string[]): Promise<Ran> => {
    const r = await vigil(args);
    assert.equal(r.code, 0, `vigil ${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    return r;
  };

  const importJson = async (file: string, ...more: string[]): Promise<Record<string, number | boolean>> => JSON.parse((await ok(['import', file, '--json', ...more])).stdout);

  const md = (token = grpc.adminToken): Metadata => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${token}`);
    return m;
  };
  const rosterClient = () => new api.roster.RosterServiceClient(grpc.address(0), credentials.createInsecure());
  const getRoster = (jid: string): Promise<api.roster.GetRosterResponse> =>
    new Promise((resolve, reject) => {
      const c = rosterClient();
      c.getRoster({ jid }, md(), { deadline: Date.now() + 10_000 }, (err, res) => {
        c.close();
        if (err) reject(err);
        else resolve(res);
      });
    });
  const usernames = async (): Promise<string[]> => JSON.parse((await ok(['accounts', 'list', '--json'])).stdout).usernames;

  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-xep0227-'));
    // PLAIN on loopback without TLS, to log in as an account that only has SHA-1 keys.
    cluster = await Cluster.start({ grpc: true, nodes: 1, env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true' } });
    grpc = cluster.grpc as GrpcAccess;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("ejabberd's export imports with the same users, contacts, subscriptions, requests and block list; the users log in with their passwords", async () => {
    const r = await ok(['import', fixture('scram-sha-1')]);
    assert.match(r.stdout, /imported 6 accounts into localhost: 6 created, 0 with new keys, 0 unchanged; 6 rosters changed/);
    assert.match(r.stderr, /warning: scram-credentials: SCRAM salts and keys are base64 of base64/);
    assert.deepEqual(await usernames(), ['alice', 'bob', 'carol', 'dave', 'eve', 'zoë']);

    const S = api.roster.Subscription;
    const alice = await getRoster('alice@localhost');
    assert.deepEqual(
      alice.items.map((i) => [i.jid, i.name, i.subscription, i.pendingOut, i.groups]),
      [
        ['bob@localhost', 'Bob', S.SUBSCRIPTION_BOTH, false, ['Friends', 'Work']],
        ['carol@localhost', 'Carol', S.SUBSCRIPTION_TO, false, ['Work']],
        ['dave@localhost', '', S.SUBSCRIPTION_NONE, true, []],
      ],
    );
    assert.deepEqual((await getRoster('carol@localhost')).items.map((i) => [i.jid, i.subscription, i.pendingOut]), [
      ['alice@localhost', S.SUBSCRIPTION_FROM, false],
      ['eve@localhost', S.SUBSCRIPTION_NONE, true],
    ]);
    assert.deepEqual((await getRoster('bob@localhost')).items.map((i) => i.jid), ['alice@localhost', 'remote@localhost.example']);
    assert.deepEqual((await getRoster('dave@localhost')).pendingIn.map((p) => p.fromJid), ['alice@localhost']);
    const eve = await getRoster('eve@localhost');
    assert.deepEqual(eve.blocked, ['mallory@evil.example', 'dave@localhost']);
    assert.deepEqual(eve.pendingIn.map((p) => p.fromJid), ['carol@localhost']);

    // ejabberd's SCRAM-SHA-1 keys, kept as they were, verify the passwords ejabberd was given.
    // (zoë's keys are checked in libs/pie's unit test: @xmpp/client sends a non-ASCII username as Latin-1.)
    const port = cluster.node(0).port;
    for (const [username, password] of [['alice', 'alice-pass'], ['eve', 'eve-pass']] as const) {
      const c = await TestClient.connect({ port, domain: 'localhost', username, password, resource: 'migrated', mechanism: 'SCRAM-SHA-1' });
      clients.push(c);
    }
    // SASL PLAIN checks a password against the SHA-1 keys when there are no SHA-256 ones.
    clients.push(await TestClient.connect({ port, domain: 'localhost', username: 'carol', password: 'carol-pass', resource: 'plain', mechanism: 'PLAIN' }));
    // Imported rosters are live: bob (both with alice) sees alice come online.
    const bob = await TestClient.connect({ port, domain: 'localhost', username: 'bob', password: 'bob-pass', resource: 'b', mechanism: 'SCRAM-SHA-1' });
    clients.push(bob);
    await bob.sendPresence();
    const aliceClient = clients[0] as TestClient;
    await aliceClient.sendPresence();
    await bob.expectStanza((s) => s.name === 'presence' && (s.attrs.from ?? '').startsWith('alice@localhost/') && s.attrs.type === undefined, 15_000, "alice's presence");
  });

  test('importing the same file again changes nothing; the plaintext export replaces the keys, and the passwords still work', async () => {
    const again = await importJson(fixture('scram-sha-1'));
    assert.equal(again.applied, true);
    assert.deepEqual([again.accountsCreated, again.accountsUpdated, again.accountsUnchanged, again.rostersChanged, again.rostersUnchanged], [0, 0, 6, 0, 6]);
    const before = (await getRoster('alice@localhost')).version;
    const plain = await importJson(fixture('plain'));
    assert.deepEqual([plain.accountsCreated, plain.accountsUpdated, plain.rostersChanged], [0, 6, 0]);
    assert.equal((await getRoster('alice@localhost')).version, before, 'an unchanged roster keeps its version');
    // Plaintext hashed with this cluster's iterations into both hashes: PLAIN and SCRAM-SHA-1 log in.
    const c = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'carol', password: 'carol-pass', resource: 'p', mechanism: 'SCRAM-SHA-1' });
    clients.push(c);
    // The same plaintext again keeps the keys it made (they already verify it).
    const plainAgain = await importJson(fixture('plain'));
    assert.deepEqual([plainAgain.accountsUpdated, plainAgain.accountsUnchanged], [0, 6]);
  });

  test('an invalid file writes nothing and every bad entry is reported with its line; --skip-invalid imports the rest', async () => {
    const bad = file(
      'bad.xml',
      [
        `<?xml version='1.0' encoding='UTF-8'?>`,
        `<server-data xmlns='urn:xmpp:pie:0'>`,
        `  <host jid='localhost'>`,
        `    <user name='good1' password='good1-pass'/>`,
        `    <user name='bad user' password='bad-pass'/>`,
        `    <user name='good2' password='x'/>`,
        `    <user name='good3' password='good3-pass'><query xmlns='jabber:iq:roster'>`,
        `      <item jid='friend@localhost/phone' subscription='both'/>`,
        `      <item jid='other@localhost' subscription='sideways'/>`,
        `    </query></user>`,
        `    <user name='good4' password='good4-pass'/>`,
        `  </host>`,
        `</server-data>`,
      ].join('\n'),
    );
    const r = await vigil(['import', bad]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -1).map((l) => /^.*bad\.xml:(\d+):\d+: error: ([^:]+):/.exec(l)?.slice(1)), [
      ['5', 'username'],
      ['6', 'password'],
      ['8', 'items[0].jid'],
      ['9', 'items[1].subscription'],
    ]);
    assert.match(lines.at(-1) ?? '', /4 errors, 0 warnings: nothing imported/);
    const names = await usernames();
    assert.ok(!names.includes('good1') && !names.includes('good4'), 'nothing from the invalid file was written');

    const skipped = await ok(['import', bad, '--skip-invalid']);
    assert.match(skipped.stdout, /imported 2 accounts .* 2 created.*; 3 invalid accounts skipped/);
    const after = await usernames();
    assert.ok(after.includes('good1') && after.includes('good4') && !after.includes('good3'));
  });

  test('a file that is not well-formed or has a DTD is refused whole, even with --skip-invalid', async () => {
    const dtd = file('dtd.xml', `<?xml version='1.0'?>\n<!DOCTYPE server-data [<!ENTITY x "boom">]>\n<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='dtd1' password='dtd1-pass'/></host></server-data>`);
    const r = await vigil(['import', dtd, '--skip-invalid']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dtd\.xml:2:\d+: error: xml: .*DTD is not allowed/);
    const cut = file('cut.xml', `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='cut1' password='cut1-pass'/>`);
    assert.equal((await vigil(['import', cut, '--skip-invalid'])).code, 1);
    const names = await usernames();
    assert.ok(!names.includes('dtd1') && !names.includes('cut1'));
  });

  test('export gives back exactly what was imported (keys, rosters, requests, block lists), and the export imports unchanged', async () => {
    const salted = async (password: string) => [await deriveScramCredential(password, 'sha1', 4096), await deriveScramCredential(password, 'sha256', 5000)];
    const accounts: PieAccount[] = [
      {
        username: 'rt-ann', scram: await salted('ann-pass'),
        items: [
          { jid: 'rt-ben@localhost', name: 'Ben <the builder>', subscription: 'both', pendingOut: false, approved: false, groups: ['A & B', 'Team'] },
          { jid: 'rt-cat@localhost', name: '', subscription: 'none', pendingOut: true, approved: false, groups: [] },
          { jid: 'someone@far.example', name: 'Far', subscription: 'from', pendingOut: false, approved: true, groups: [] },
        ],
        pendingIn: [], blocked: ['spam.example', 'troll@evil.example/resource'],
      },
      { username: 'rt-ben', scram: await salted('ben-pass'), items: [{ jid: 'rt-ann@localhost', name: '', subscription: 'both', pendingOut: false, approved: false, groups: [] }], pendingIn: [], blocked: [] },
      { username: 'rt-cat', scram: await salted('cat-pass'), items: [], pendingIn: [{ from: 'rt-ann@localhost', status: 'hi, it is Ann' }], blocked: [] },
    ];
    const source = file('roundtrip.xml', writeDocument('localhost', accounts));
    await ok(['import', source]);
    const out = join(dir, 'export.xml');
    const r = await ok(['export', out]);
    assert.match(r.stdout, /^exported \d+ accounts to /);
    assert.equal(statSync(out).mode & 0o777, 0o600, 'an export holds keys: owner only');
    const exported = parsePie(readFileSync(out, 'utf8'), out);
    assert.deepEqual(exported.problems.filter((p) => p.severity === 'error'), []);
    const mine = (exported.hosts[0]?.accounts ?? []).filter((a) => a.username.startsWith('rt-'));
    assert.deepEqual(byName(mine).map(comparable), byName(accounts).map(comparable));
    // The whole export (fixture users and all) imports into the same cluster without a change.
    const again = await importJson(out);
    assert.equal(again.accountsCreated, 0);
    assert.equal(again.accountsUpdated, 0);
    assert.equal(again.rostersChanged, 0);
  });

  test('import and export need an admin token; a file for another domain is refused', async () => {
    const small = file('small.xml', [...generatePopulation({ domain: 'localhost', accounts: 3, contacts: 2, prefix: 'scope' })].join(''));
    const read = await vigil(['import', small], grpc.readToken);
    assert.equal(read.code, 3);
    assert.match(read.stderr, /PERMISSION_DENIED: .*needs admin/);
    assert.equal((await vigil(['export'], grpc.readToken)).code, 3);
    assert.equal((await vigil(['import', small], null)).code, 3);
    assert.ok(!(await usernames()).includes('scope0'));

    const other = file('other.xml', [...generatePopulation({ domain: 'elsewhere.example', accounts: 3, contacts: 2, prefix: 'dom' })].join(''));
    const r = await vigil(['import', other]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /INVALID_ARGUMENT: options\.domain: the accounts are of elsewhere\.example, this cluster serves localhost/);
    assert.equal((await vigil(['import', join(dir, 'missing.xml')])).code, 1);
  });

  test("ejabberd's SCRAM-SHA-256 export replaces the keys with its own, which verify the passwords", async () => {
    const r = await importJson(fixture('scram-sha-256'));
    assert.equal(r.applied, true);
    assert.equal(r.accountsUpdated, 6);
    // PLAIN checks the SHA-256 keys first: these are now ejabberd's.
    clients.push(await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'dave', password: 'dave-pass', resource: 'sha256', mechanism: 'PLAIN' }));
    // Only admin-made data in that export: dave's pending request from alice is gone, as the file says.
    assert.deepEqual((await getRoster('dave@localhost')).pendingIn, []);
  });

  test('a client that streams a batch before the options gets INVALID_ARGUMENT and nothing is written', async () => {
    const c = new api.migration.MigrationServiceClient(grpc.address(0), credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError | null>((resolve) => {
        const call = c.import(md(), { deadline: Date.now() + 10_000 }, (e) => resolve(e));
        call.write({ part: { $case: 'batch', batch: { accounts: [{ username: 'early', password: 'early-pass', scramCredentials: [], items: [], pendingIn: [], blocked: [] }] } } });
        call.end();
      });
      assert.equal(err?.code, status.INVALID_ARGUMENT);
      assert.match(err?.details ?? '', /^options: the first message must carry the options/);
      assert.ok(!(await usernames()).includes('early'));

      // A client that skips the command line's checks: the server finds the same problems and writes nothing.
      const res = await new Promise<api.migration.ImportResponse>((resolve, reject) => {
        const call = c.import(md(), { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r)));
        call.write({ part: { $case: 'options', options: { dryRun: false, skipInvalid: false, domain: '' } } });
        const account = (username: string, more: Partial<api.migration.PortableAccount> = {}): api.migration.PortableAccount => ({
          username, password: `${username}-pass`, scramCredentials: [], items: [], pendingIn: [], blocked: [], ...more,
        });
        call.write({ part: { $case: 'batch', batch: { accounts: [account('direct-ok'), account('direct bad')] } } });
        call.write({ part: { $case: 'batch', batch: { accounts: [account('direct-items', { items: [{ jid: 'x@localhost', name: '', subscription: api.roster.Subscription.SUBSCRIPTION_UNSPECIFIED, pendingOut: false, approved: false, groups: [] }] })] } } });
        call.end();
      });
      assert.equal(res.applied, false);
      assert.deepEqual(res.problems.filter((p) => p.error).map((p) => [p.account, p.field]), [[1, 'username'], [2, 'items[0].subscription']]);
      assert.ok(!(await usernames()).includes('direct-ok'));
    } finally {
      c.close();
    }
  });
});
