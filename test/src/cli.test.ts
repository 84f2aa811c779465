import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Cluster, DeadlineError, TestClient, xml, type GrpcAccess, mutualContacts } from '@vigil/testkit';

// The built `vigil` command line as a child process against a real cluster
// (one authority serving the gRPC API, one connection node).
const MAIN = fileURLToPath(new URL('../../services/cli/dist/main.js', import.meta.url));
const DEADLINE_MS = 15_000;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface RunOptions {
  /** VIGIL_TOKEN; null: none at all. Default: the admin token. */
  readonly token?: string | null;
  /** Written to stdin, which is then closed. */
  readonly stdin?: string;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('vigil command line', () => {
  let cluster: Cluster;
  let grpc: GrpcAccess;
  const clients: TestClient[] = [];
  const children = new Set<ChildProcessWithoutNullStreams>();

  const spawnVigil = (args: readonly string[], options: RunOptions = {}): ChildProcessWithoutNullStreams => {
    const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_GRPC_SERVER: grpc.address(0) };
    delete env.VIGIL_TOKEN;
    const token = options.token === undefined ? grpc.adminToken : options.token;
    if (token !== null) env.VIGIL_TOKEN = token;
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: 'pipe' });
    children.add(child);
    child.on('exit', () => children.delete(child));
    child.stdin.end(options.stdin ?? '');
    return child;
  };

  /** Runs `vigil args…` to the end, within the deadline. */
  const vigil = (args: readonly string[], options: RunOptions = {}): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const child = spawnVigil(args, options);
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

  /** Runs and expects exit code 0 and nothing on stderr. */
  const ok = async (args: readonly string[], options: RunOptions = {}): Promise<string> => {
    const r = await vigil(args, options);
    assert.equal(r.code, 0, `vigil ${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(r.stderr, '');
    return r.stdout;
  };
  const okJson = async (args: readonly string[], options: RunOptions = {}): Promise<unknown> => JSON.parse(await ok([...args, '--json'], options));

  /** Expects exit code `code` and one line on stderr matching `message`. */
  const fails = async (args: readonly string[], code: number, message: RegExp, options: RunOptions = {}): Promise<Ran> => {
    const r = await vigil(args, options);
    assert.equal(r.code, code, `vigil ${args.join(' ')}: expected exit ${code}, got ${r.code} (${r.stderr.trim()})`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line on stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
    return r;
  };

  /** Repeats a JSON command until its output satisfies `cond` (state that settles asynchronously). */
  const untilJson = async <T>(args: readonly string[], cond: (v: T) => boolean, what: string): Promise<T> => {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const v = (await okJson(args)) as T;
      if (cond(v)) return v;
      if (Date.now() > deadline) throw new DeadlineError(what, DEADLINE_MS);
      await pause(100);
    }
  };

  const login = async (username: string, password: string, resource: string): Promise<TestClient> => {
    const c = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username, password, resource });
    clients.push(c);
    return c;
  };

  const eventually = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + DEADLINE_MS;
    while (!cond()) {
      if (Date.now() > deadline) throw new DeadlineError(what, DEADLINE_MS);
      await pause(20);
    }
  };

  before(async () => {
    cluster = await Cluster.start({ grpc: true, nodes: 1, metrics: true });
    grpc = cluster.grpc as GrpcAccess;
    await cluster.provision(
      ['alice', 'bob', 'carol', 'dave'].map((username) => ({ username, password: `${username}-pass` })),
      mutualContacts('alice', 'bob'),
    );
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
  });

  test('bad usage is exit code 1 with a message; --help is exit code 0', async () => {
    await fails(['roster', 'add', 'alice@localhost'], 1, /^vigil roster add: missing argument/);
    await fails(['cluster', 'nodez'], 1, /unknown subcommand "nodez"/);
    await fails(['presence', 'get', 'alice@localhost', '--colour'], 1, /Unknown option '--colour'/);
    // Input the server refuses is a usage error too, with the field at fault.
    await fails(['presence', 'get', 'not a jid@@'], 1, /INVALID_ARGUMENT: jid: not a valid JID/);
    const help = await ok(['sessions', 'kick', '--help']);
    assert.match(help, /^Usage: vigil sessions kick <full-jid>/);
    assert.match(help, /Exit codes:/);
  });

  test('a wrong token, a read-only token on a write and no token are exit code 3; the token is never printed', async () => {
    const wrong = 'wrong-token-0123456789abcdef';
    const r = await fails(['accounts', 'list'], 3, /UNAUTHENTICATED: unknown token/, { token: wrong });
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(wrong));
    await fails(['accounts', 'create', 'mallory'], 3, /PERMISSION_DENIED: .*needs admin/, { token: grpc.readToken, stdin: 'mallory-pass\n' });
    await fails(['cluster', 'nodes'], 3, /no token/, { token: null });
  });

  test('an unknown user is exit code 2', async () => {
    await fails(['presence', 'get', 'nobody@localhost'], 2, /^vigil presence get: NOT_FOUND: no account nobody@localhost/);
    await fails(['roster', 'get', 'nobody@localhost'], 2, /NOT_FOUND/);
    await fails(['accounts', 'delete', 'nobody'], 2, /NOT_FOUND/);
  });

  test('accounts create, list, passwd and delete; the new account logs in with its password', async () => {
    assert.equal(await ok(['accounts', 'create', 'grace'], { stdin: 'grace-pass\nnot this line\n' }), 'created grace@localhost\n');
    await fails(['accounts', 'create', 'grace'], 6, /ALREADY_EXISTS/, { stdin: 'other-pass\n' });
    await fails(['accounts', 'create', 'heidi'], 1, /INVALID_ARGUMENT: password: /, { stdin: 'x\n' });
    await fails(['accounts', 'create', 'heidi'], 1, /no password on standard input/, { stdin: '' });
    assert.deepEqual(await okJson(['accounts', 'list']), { usernames: ['alice', 'bob', 'carol', 'dave', 'grace'] });
    assert.equal(await ok(['accounts', 'list']), 'alice\nbob\ncarol\ndave\ngrace\n');
    const grace = await login('grace', 'grace-pass', 'first');
    await grace.stop();

    assert.deepEqual(await okJson(['accounts', 'passwd', 'grace', '--password-stdin'], { stdin: 'new-grace-pass\n' }), {});
    await assert.rejects(TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'grace', password: 'grace-pass', resource: 'old' }));
    const again = await login('grace', 'new-grace-pass', 'second');
    await again.sendPresence();
    await untilJson<{ presences: { resources: unknown[] }[] }>(['presence', 'get', 'grace@localhost'], (v) => v.presences[0]?.resources.length === 1, 'grace online');

    assert.deepEqual(await okJson(['accounts', 'delete', 'grace']), { sessionsEnded: 1, itemsRemoved: 0 });
    assert.deepEqual(await okJson(['accounts', 'list']), { usernames: ['alice', 'bob', 'carol', 'dave'] });
    await fails(['accounts', 'delete', 'grace'], 2, /NOT_FOUND/);
  });

  test('roster add, get and remove', async () => {
    const added = (await okJson(['roster', 'add', 'alice@localhost', 'dave@localhost', '--name', 'Dave', '--group', 'Friends', '--group', 'Work', '--subscribe'])) as {
      item: { jid: string; name: string; subscription: string; pendingOut: boolean; groups: string[] };
      version: number;
    };
    assert.deepEqual(added.item, { jid: 'dave@localhost', name: 'Dave', subscription: 'SUBSCRIPTION_NONE', pendingOut: true, approved: false, groups: ['Friends', 'Work'] });
    const got = (await okJson(['roster', 'get', 'alice@localhost'])) as { version: number; items: { jid: string; subscription: string }[] };
    assert.deepEqual(got.items.map((i) => [i.jid, i.subscription]), [['bob@localhost', 'SUBSCRIPTION_BOTH'], ['dave@localhost', 'SUBSCRIPTION_NONE']]);
    const table = await ok(['roster', 'get', 'alice@localhost']);
    assert.match(table, /^CONTACT +NAME +SUBSCRIPTION +PENDING +GROUPS$/m);
    assert.match(table, /^dave@localhost +Dave +none +subscribe +Friends, Work$/m);
    // dave got the request.
    assert.deepEqual(((await okJson(['roster', 'get', 'dave@localhost'])) as { pendingIn: { fromJid: string }[] }).pendingIn.map((p) => p.fromJid), ['alice@localhost']);

    assert.match(await ok(['roster', 'remove', 'alice@localhost', 'dave@localhost']), /^removed dave@localhost from the roster of alice@localhost/);
    const after1 = (await okJson(['roster', 'get', 'alice@localhost'])) as { version: number; items: { jid: string }[] };
    assert.deepEqual(after1.items.map((i) => i.jid), ['bob@localhost']);
    assert.ok(after1.version > got.version);
    await fails(['roster', 'remove', 'alice@localhost', 'dave@localhost'], 2, /NOT_FOUND/);
    await fails(['roster', 'add', 'alice@localhost', 'x@@y'], 1, /INVALID_ARGUMENT: contact_jid: /);
  });

  test('presence get for an online and an offline user', async () => {
    const alice = await login('alice', 'alice-pass', 'phone');
    await alice.sendPresence({}, xml('show', {}, 'dnd'), xml('status', {}, 'in a meeting'), xml('priority', {}, '5'));
    type Presences = { presences: { jid: string; resources: { fullJid: string; show: string; status: string; priority: number; nodeId: string }[] }[] };
    const online = await untilJson<Presences>(['presence', 'get', 'alice@localhost'], (v) => v.presences[0]?.resources.length === 1, 'alice online');
    assert.deepEqual(online.presences[0]?.resources.map((r) => [r.fullJid, r.show, r.status, r.priority, r.nodeId]), [['alice@localhost/phone', 'SHOW_DND', 'in a meeting', 5, 'node-1']]);
    const table = await ok(['presence', 'get', 'alice@localhost', 'carol@localhost']);
    assert.match(table, /^JID +SHOW +PRIORITY +NODE +SINCE +STATUS$/m);
    assert.match(table, /^alice@localhost\/phone +dnd +5 +node-1 +\d{4}-\d\d-\d\dT[\d:]+Z +in a meeting$/m);
    assert.match(table, /^carol@localhost +offline$/m);
    const offline = (await okJson(['presence', 'get', 'carol@localhost'])) as { presences: { jid: string; resources: unknown[]; sequence: { epoch: number } }[] };
    assert.deepEqual(offline.presences.map((p) => [p.jid, p.resources]), [['carol@localhost', []]], 'every field present, resources empty');
    assert.ok((offline.presences[0]?.sequence.epoch ?? 0) > 0);
  });

  test('sessions list and kick: the kicked client sees its stream end', async () => {
    const bob = await login('bob', 'bob-pass', 'laptop');
    await bob.sendPresence();
    type Sessions = { sessions: { fullJid: string; sessionId: string; nodeId: string; available: boolean }[] };
    const listed = await untilJson<Sessions>(['sessions', 'list', 'bob@localhost'], (v) => v.sessions.some((s) => s.available), 'bob available');
    assert.deepEqual(listed.sessions.map((s) => [s.fullJid, s.nodeId, s.available]), [['bob@localhost/laptop', 'node-1', true]]);
    assert.match(await ok(['sessions', 'list', 'bob@localhost']), /^bob@localhost\/laptop +\S+ +node-1 +available/m);

    const kicked = await ok(['sessions', 'kick', 'bob@localhost/laptop', '--reason', 'maintenance']);
    assert.equal(kicked, `kicked bob@localhost/laptop (session ${listed.sessions[0]?.sessionId})\n`);
    await eventually(() => bob.errors.some((e) => (e as { condition?: string }).condition === 'policy-violation'), 'bob sees <policy-violation/>');
    await eventually(() => bob.xmpp.status === 'offline' || bob.xmpp.status === 'disconnect', "bob's stream ended");
    await fails(['sessions', 'kick', 'bob@localhost/laptop'], 2, /NOT_FOUND/);
    await fails(['sessions', 'kick', 'bob@localhost'], 1, /INVALID_ARGUMENT: full_jid: /);
  });

  test('cluster nodes and shards', async () => {
    const nodes = (await okJson(['cluster', 'nodes'])) as { nodes: { nodeId: string; leaseState: string }[] };
    assert.deepEqual(nodes.nodes.map((n) => [n.nodeId, n.leaseState]), [['node-1', 'LEASE_STATE_LIVE']]);
    assert.match(await ok(['cluster', 'nodes']), /^node-1 +live +/m);
    const shards = (await okJson(['cluster', 'shards'])) as { shards: { shard: number; ownerId: string; epoch: number }[]; owners: string[] };
    assert.equal(shards.shards.length, 256);
    assert.deepEqual(shards.owners, ['authority-1']);
    assert.ok(shards.shards.every((s, i) => s.shard === i && s.ownerId === 'authority-1' && s.epoch > 0));
  });

  test('cluster detection and nats', async () => {
    // A death to time: a client that comes online and closes its stream (a session never available is not announced, so not timed).
    const c = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'alice', password: 'alice-pass', resource: 'timed' });
    await c.send(xml('presence'));
    await c.stop();
    type Detection = { detectionLatency: { cause: string; histogram: { count: number } }[]; authorities: { authorityId: string; detections: number }[]; unanswered: string[] };
    const m = await untilJson<Detection>(['cluster', 'detection'], (d) => d.detectionLatency.some((l) => l.cause === 'graceful' && l.histogram.count > 0), 'a graceful end timed');
    assert.deepEqual(m.authorities.map((a) => a.authorityId), ['authority-1']);
    assert.ok((m.authorities[0]?.detections ?? 0) >= 1);
    assert.deepEqual(m.unanswered, []);
    const text = await ok(['cluster', 'detection']);
    assert.match(text, /^CAUSE +DEATHS +P50 +P90 +P99 +MEAN$/m);
    assert.match(text, /^graceful +\d+ +(≤|>) [\d.]+ m?s /m);
    assert.match(text, /^authority-1 +\d+ +\d+ +/m);

    const servers = (await okJson(['cluster', 'nats'])) as { servers: { address: string; configured: boolean; reachable: boolean; connected: boolean; version: string }[]; authorityId: string };
    assert.equal(servers.authorityId, 'authority-1');
    const connected = servers.servers.filter((s) => s.connected);
    assert.equal(connected.length, 1);
    assert.ok(connected[0]?.reachable && connected[0].configured && /^\d+\.\d+/.test(connected[0].version), JSON.stringify(connected));
    assert.match(await ok(['cluster', 'nats']), new RegExp(`^${connected[0]?.address.replace(/[.]/g, '\\.')} \\* +configured.* +up +`, 'm'));
  });

  /** A running `vigil presence watch`: its stdout lines as they come. */
  const watch = (args: readonly string[]) => {
    const child = spawnVigil(['presence', 'watch', ...args]);
    const lines: string[] = [];
    let stderr = '';
    let wake: (() => void) | undefined;
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      wake?.();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let read = 0;
    /** The next line matching `pred` (earlier ones are skipped), within the deadline. */
    const next = async (pred: (line: string) => boolean, what: string): Promise<string> => {
      const deadline = Date.now() + DEADLINE_MS;
      for (;;) {
        while (read < lines.length) {
          const l = lines[read++] as string;
          if (pred(l)) return l;
        }
        if (Date.now() > deadline) throw new DeadlineError(`${what} (stderr: ${stderr})`, DEADLINE_MS);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    };
    const exit = async (): Promise<number | null> => {
      const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    };
    return { child, next, exit, stderr: () => stderr };
  };

  test('presence watch --json prints a line per event, sees a client go offline, and exits 0 on Ctrl-C', async () => {
    type Line = { snapshot?: { jid: string; resources: unknown[] }; change?: { jid: string; resource: string; available: boolean; cause: string; sequence: { counter: number } } };
    const w = watch(['carol@localhost', '--json']);
    const snap = JSON.parse(await w.next(() => true, 'the snapshot')) as Line;
    assert.deepEqual(snap.snapshot?.jid, 'carol@localhost');
    assert.deepEqual(snap.snapshot?.resources, []);

    const carol = await login('carol', 'carol-pass', 'pc');
    await carol.sendPresence();
    const up = JSON.parse(await w.next(() => true, 'carol available')) as Line;
    assert.deepEqual([up.change?.resource, up.change?.available, up.change?.cause], ['pc', true, 'CHANGE_CAUSE_AVAILABLE']);
    carol.crash();
    const lost = JSON.parse(await w.next(() => true, 'carol lost')) as Line;
    assert.deepEqual([lost.change?.jid, lost.change?.resource, lost.change?.available, lost.change?.cause], ['carol@localhost', 'pc', false, 'CHANGE_CAUSE_CLIENT_LOST']);
    assert.equal(lost.change?.sequence.counter, (up.change?.sequence.counter ?? 0) + 1);

    w.child.kill('SIGINT');
    assert.equal(await w.exit(), 0);
    assert.equal(w.stderr(), '');
  });

  test('presence watch prints why the stream ended: the server went away is exit code 4', async () => {
    const w = watch(['dave@localhost']);
    assert.match(await w.next(() => true, 'the snapshot'), /^\S+Z {2}dave@localhost {2}snapshot offline {2}\(seq \d+:\d+\)$/);
    const dave = await login('dave', 'dave-pass', 'home');
    await dave.sendPresence({}, xml('show', {}, 'away'));
    assert.match(await w.next(() => true, 'dave available'), /dave@localhost\/home {2}available: away, priority 0, node-1 /);
    await cluster.authority.stop();
    assert.equal(await w.exit(), 4);
    assert.match(w.stderr(), /^vigil presence watch: UNAVAILABLE: server shutting down; reconnect \(server 127\.0\.0\.1:\d+\)\n$/);
  });
});
