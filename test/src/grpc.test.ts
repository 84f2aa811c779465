import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status, type CallOptions, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { api, health, rpcDetails, rpcStatus } from '@vigil/proto';
import { Cluster, DeadlineError, TestClient, is, xml, scrapeMetrics, type GrpcAccess, type MetricsScrape, mutualContacts } from '@vigil/testkit';

// The public gRPC API (proto/vigil/presence/v1) with a real grpc-js client
// against a real cluster: two authority replicas, each serving the API and
// forwarding to the other for the shards it does not own; two nodes.
const DEADLINE_MS = 15_000;
const WATCH_BUFFER = 20;
const P = api.presence;
const Cause = P.ChangeCause;

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type Unary<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown;

const bearer = (token: string | undefined): Metadata => {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
};

/** One unary call with a deadline; resolves with the answer or rejects with the ServiceError. */
function call<Req, Res>(fn: Unary<Req, Res>, req: Req, token: string | undefined, deadlineMs = DEADLINE_MS): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, bearer(token), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && 'code' in e && typeof e.code === 'number' && 'metadata' in e;
}

/** The google.rpc.Status in the trailer, decoded. */
function details(e: ServiceError): rpcStatus.Status {
  const bin = e.metadata.get('grpc-status-details-bin')[0];
  assert.ok(Buffer.isBuffer(bin), 'grpc-status-details-bin trailer present');
  return rpcStatus.Status.decode(bin);
}

/** Expects the call to fail with `code`; with `field`, the BadRequest detail and the message name it. */
async function rejects(p: Promise<unknown>, code: status, field?: string): Promise<ServiceError> {
  const e = await p.then(
    () => assert.fail(`expected ${status[code]}, got success`),
    (err: unknown) => err,
  );
  assert.ok(isServiceError(e), `a gRPC error, not ${String(e)}`);
  assert.equal(e.code, code, `expected ${status[code]}, got ${status[e.code]}: ${e.details}`);
  if (field !== undefined) {
    assert.match(e.details, new RegExp(`^${field.replace(/[[\]]/g, '\\$&')}: `));
    const bad = details(e).details.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.BadRequest');
    assert.ok(bad, 'a google.rpc.BadRequest detail');
    assert.equal(rpcDetails.BadRequest.decode(bad.value).fieldViolations[0]?.field, field);
  }
  return e;
}

/** A WatchPresence stream read into a list; `next` waits for the next response with a deadline. */
class Watcher {
  readonly events: api.presence.WatchPresenceResponse[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  error: ServiceError | undefined;

  constructor(readonly stream: ClientReadableStream<api.presence.WatchPresenceResponse>) {
    stream.on('data', (r: api.presence.WatchPresenceResponse) => {
      this.events.push(r);
      this.#wake?.();
    });
    stream.on('error', (e: ServiceError) => {
      this.error = e;
      this.#wake?.();
    });
  }

  async next(what: string): Promise<api.presence.WatchPresenceResponse> {
    const deadline = Date.now() + DEADLINE_MS;
    while (this.events.length <= this.#read) {
      if (this.error) throw this.error;
      if (Date.now() > deadline) throw new DeadlineError(what, DEADLINE_MS);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.events[this.#read++] as api.presence.WatchPresenceResponse;
  }

  /** The next change event (snapshots are checked separately). */
  async change(what: string): Promise<api.presence.PresenceChange> {
    const r = await this.next(what);
    assert.equal(r.event?.$case, 'change', `${what}: a change, got ${r.event?.$case}`);
    return (r.event as { change: api.presence.PresenceChange }).change;
  }

  async snapshot(what: string): Promise<api.presence.UserPresence> {
    const r = await this.next(what);
    assert.equal(r.event?.$case, 'snapshot', `${what}: a snapshot first`);
    return (r.event as { snapshot: api.presence.UserPresence }).snapshot;
  }

  cancel(): void {
    this.stream.cancel();
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a condition until a deadline (for state with no event to wait on). */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new DeadlineError(what, DEADLINE_MS);
    await pause(20);
  }
}

/** Repeats a read until its answer satisfies `ok` (state that settles asynchronously), within the deadline. */
async function until<T>(read: () => Promise<T>, ok: (t: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const t = await read();
    if (ok(t)) return t;
    if (Date.now() > deadline) throw new DeadlineError(what, DEADLINE_MS);
    await pause(50);
  }
}

describe('gRPC API', () => {
  let cluster: Cluster;
  let grpc: GrpcAccess;
  let presence: api.presence.PresenceServiceClient;
  let roster: api.roster.RosterServiceClient;
  let accounts: api.account.AccountServiceClient;
  let clusterApi: api.cluster.ClusterServiceClient;
  let healthApi: health.HealthClient;
  const clients: TestClient[] = [];
  const watchers: Watcher[] = [];
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

  const login = async (node: number, username: string, resource: string, ...presenceChildren: ReturnType<typeof xml>[]): Promise<TestClient> => {
    const c = await TestClient.connect({ port: cluster.node(node).port, domain: 'localhost', username, password: 'pw', resource });
    clients.push(c);
    await c.sendPresence({}, ...presenceChildren);
    return c;
  };
  const admin = (): string => grpc.adminToken;
  const reader = (): string => grpc.readToken;
  const watch = (jids: string[], causes: api.presence.ChangeCause[] = []): Watcher => {
    const w = new Watcher(presence.watchPresence({ jids, causes }, bearer(reader())));
    watchers.push(w);
    return w;
  };
  const getPresence = (jid: string) => call(presence.getPresence.bind(presence), { jid }, reader());

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, authorities: 2, grpc: true, metrics: true, env: { VIGIL_GRPC_WATCH_BUFFER: String(WATCH_BUFFER) } });
    grpc = cluster.grpc as GrpcAccess;
    await cluster.provision(
      users.map((username) => ({ username, password: 'pw' })),
      mutualContacts('alice', 'bob'),
    );
    const address = grpc.address(0);
    presence = new P.PresenceServiceClient(address, credentials.createInsecure());
    roster = new api.roster.RosterServiceClient(address, credentials.createInsecure());
    accounts = new api.account.AccountServiceClient(address, credentials.createInsecure());
    clusterApi = new api.cluster.ClusterServiceClient(address, credentials.createInsecure());
    healthApi = new health.HealthClient(address, credentials.createInsecure());
    // The replicas balance the shards in their first seconds; a call meanwhile may meet a hand-over
    // (UNAVAILABLE, retry). The tests below are about the API, not that window: start after it.
    await until(() => call(clusterApi.listShards.bind(clusterApi), {}, reader()), (r) => r.owners.length === 2 && r.shards.every((s) => s.ownerId !== '')
        && r.owners.every((o) => r.shards.filter((s) => s.ownerId === o).length === r.shards.length / 2), 'the shards balanced over both replicas');
  });

  after(async () => {
    for (const w of watchers) w.cancel();
    for (const c of [presence, roster, accounts, clusterApi, healthApi]) c?.close();
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
  });

  test('calls without a known token are UNAUTHENTICATED; a read-only token cannot write', async () => {
    await rejects(call(presence.getPresence.bind(presence), { jid: 'alice@localhost' }, undefined), status.UNAUTHENTICATED);
    await rejects(call(presence.getPresence.bind(presence), { jid: 'alice@localhost' }, 'not-a-token-of-this-cluster'), status.UNAUTHENTICATED);
    await rejects(call(presence.kickSession.bind(presence), { fullJid: 'alice@localhost/x', reason: '' }, reader()), status.PERMISSION_DENIED);
    await rejects(call(accounts.createAccount.bind(accounts), { username: 'mallory', password: 'secret' }, reader()), status.PERMISSION_DENIED);
    // A read-only token reads.
    await call(accounts.listAccounts.bind(accounts), { pageSize: 0, pageToken: '' }, reader());
  });

  test('health checking answers without a token', async () => {
    const res = await call(healthApi.check.bind(healthApi), { service: '' }, undefined);
    assert.equal(res.status, health.HealthCheckResponse_ServingStatus.SERVING);
    const ps = await call(healthApi.check.bind(healthApi), { service: 'vigil.presence.v1.PresenceService' }, undefined);
    assert.equal(ps.status, health.HealthCheckResponse_ServingStatus.SERVING);
    await rejects(call(healthApi.check.bind(healthApi), { service: 'no.such.Service' }, undefined), status.NOT_FOUND);
  });

  test('GetPresence shows each available resource with show, status, priority, node and since; bad input is named', async () => {
    const before = Date.now();
    await login(0, 'alice', 'phone', xml('show', {}, 'dnd'), xml('status', {}, 'in a meeting'), xml('priority', {}, '5'));
    await login(1, 'alice', 'desk');
    const res = await until(() => getPresence('alice@localhost'), (r) => r.presence?.resources.length === 2, "both of alice's resources announced");
    const [phone, desk] = res.presence?.resources ?? [];
    assert.equal(res.presence?.jid, 'alice@localhost');
    assert.equal(phone?.fullJid, 'alice@localhost/phone', 'highest priority first');
    assert.equal(phone?.show, P.Show.SHOW_DND);
    assert.equal(phone?.status, 'in a meeting');
    assert.equal(phone?.priority, 5);
    assert.equal(phone?.nodeId, 'node-1');
    assert.ok((phone?.availableSinceUnixMs ?? 0) >= before - 1000, 'since is recent');
    assert.equal(desk?.show, P.Show.SHOW_AVAILABLE);
    assert.equal(desk?.nodeId, 'node-2');
    assert.ok((res.presence?.sequence?.epoch ?? 0) > 0, 'the sequence carries the owner epoch');

    const one = await getPresence('alice@localhost/desk');
    assert.deepEqual(one.presence?.resources.map((r) => r.fullJid), ['alice@localhost/desk']);
    const offline = await getPresence('carol@localhost');
    assert.deepEqual(offline.presence?.resources, []);

    const nf = await rejects(getPresence('nobody@localhost'), status.NOT_FOUND);
    assert.ok(details(nf).details.some((d) => d.typeUrl === 'type.googleapis.com/google.rpc.ResourceInfo'));
    await rejects(getPresence('not a jid@@'), status.INVALID_ARGUMENT, 'jid');
    await rejects(getPresence('alice@elsewhere.example'), status.INVALID_ARGUMENT, 'jid');
    await rejects(getPresence(''), status.INVALID_ARGUMENT, 'jid');
  });

  test('BatchGetPresence answers in request order, and refuses an empty, oversized or bad batch as a whole', async () => {
    const batch = (jids: string[]) => call(presence.batchGetPresence.bind(presence), { jids }, reader());
    const res = await batch(['carol@localhost', 'alice@localhost', 'alice@localhost/phone', 'bob@localhost']);
    assert.deepEqual(res.presences.map((p) => p.jid), ['carol@localhost', 'alice@localhost', 'alice@localhost/phone', 'bob@localhost']);
    assert.equal(res.presences[1]?.resources.length, 2);
    assert.equal(res.presences[2]?.resources.length, 1);
    await rejects(batch([]), status.INVALID_ARGUMENT, 'jids');
    await rejects(batch(Array.from({ length: 1001 }, (_, i) => `u${i}@localhost`)), status.INVALID_ARGUMENT, 'jids');
    await rejects(batch(['alice@localhost', 'bob@localhost', 'bad@@jid']), status.INVALID_ARGUMENT, 'jids[2]');
    await rejects(batch(['alice@localhost', 'nobody@localhost']), status.NOT_FOUND);
    // A thousand JIDs spread over every shard, forwarded to both replicas.
    const many = await batch(Array.from({ length: 1000 }, (_, i) => users[i % users.length] + '@localhost'));
    assert.equal(many.presences.length, 1000);
  });

  test('ListSessions and GetLastSeen', async () => {
    const sessions = await call(presence.listSessions.bind(presence), { jid: 'alice@localhost' }, reader());
    assert.deepEqual(sessions.sessions.map((s) => s.fullJid).sort(), ['alice@localhost/desk', 'alice@localhost/phone']);
    assert.ok(sessions.sessions.every((s) => s.available && s.sessionId !== '' && s.nodeIncarnation !== ''));
    await rejects(call(presence.listSessions.bind(presence), { jid: 'alice@localhost/phone' }, reader()), status.INVALID_ARGUMENT, 'jid');
    // PRECIS (RFC 8265): a compatibility character is refused, and the details say which and why.
    const ligature = await rejects(call(presence.listSessions.bind(presence), { jid: '\ufb01@localhost' }, reader()), status.INVALID_ARGUMENT, 'jid');
    assert.match(ligature.details, /localpart contains a compatibility character .*U\+FB01/);

    const online = await call(presence.getLastSeen.bind(presence), { jid: 'alice@localhost' }, reader());
    assert.equal(online.online, true);
    const never = await call(presence.getLastSeen.bind(presence), { jid: 'frank@localhost' }, reader());
    assert.deepEqual([never.online, never.neverSeen], [false, true]);
    const carol = await login(0, 'carol', 'pc');
    await carol.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'gone fishing')));
    await carol.stop();
    const seen = await until(() => call(presence.getLastSeen.bind(presence), { jid: 'carol@localhost' }, reader()), (r) => r.lastSeenUnixMs > 0, 'carol last seen');
    assert.equal(seen.status, 'gone fishing');
    await rejects(call(presence.getLastSeen.bind(presence), { jid: 'nobody@localhost' }, reader()), status.NOT_FOUND);
  });

  test('AccountService creates, re-keys, lists and deletes accounts; a created account logs in', async () => {
    const created = await call(accounts.createAccount.bind(accounts), { username: 'Grace', password: 'grace-pass' }, admin());
    assert.equal(created.jid, 'grace@localhost');
    await rejects(call(accounts.createAccount.bind(accounts), { username: 'grace', password: 'other-pass' }, admin()), status.ALREADY_EXISTS);
    await rejects(call(accounts.createAccount.bind(accounts), { username: 'bad@name', password: 'grace-pass' }, admin()), status.INVALID_ARGUMENT, 'username');
    const emoji = await rejects(call(accounts.createAccount.bind(accounts), { username: 'king\u265a', password: 'grace-pass' }, admin()), status.INVALID_ARGUMENT, 'username');
    assert.match(emoji.details, /localpart contains a symbol: U\+265A/);
    await rejects(call(accounts.createAccount.bind(accounts), { username: 'heidi', password: 'x' }, admin()), status.INVALID_ARGUMENT, 'password');
    await call(accounts.setPassword.bind(accounts), { username: 'grace', password: 'new-grace-pass' }, admin());
    await rejects(call(accounts.setPassword.bind(accounts), { username: 'nobody', password: 'whatever' }, admin()), status.NOT_FOUND);
    const grace = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'grace', password: 'new-grace-pass', resource: 'r' });
    clients.push(grace);

    const first = await call(accounts.listAccounts.bind(accounts), { pageSize: 3, pageToken: '' }, reader());
    assert.deepEqual(first.usernames, ['alice', 'bob', 'carol']);
    assert.notEqual(first.nextPageToken, '');
    const rest = await call(accounts.listAccounts.bind(accounts), { pageSize: 100, pageToken: first.nextPageToken }, reader());
    assert.deepEqual(rest.usernames, ['dave', 'erin', 'frank', 'grace']);
    assert.equal(rest.nextPageToken, '');
    await rejects(call(accounts.listAccounts.bind(accounts), { pageSize: 5000, pageToken: '' }, reader()), status.INVALID_ARGUMENT, 'page_size');

    // Deletion ends the sessions (kicked), the one on the other node that never sent presence too, and removes the account.
    await grace.sendPresence();
    await until(() => getPresence('grace@localhost'), (r) => r.presence?.resources.length === 1, 'grace online');
    const quiet = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'grace', password: 'new-grace-pass', resource: 'quiet' });
    clients.push(quiet);
    const deleted = await call(accounts.deleteAccount.bind(accounts), { username: 'grace' }, admin());
    assert.deepEqual([deleted.sessionsEnded, deleted.itemsRemoved], [2, 0]);
    const kicked = (c: TestClient) => c.errors.some((e) => (e as { condition?: string }).condition === 'not-authorized');
    await eventually(() => kicked(grace), 'grace kicked');
    await eventually(() => kicked(quiet), 'grace\'s session without presence kicked');
    await rejects(getPresence('grace@localhost'), status.NOT_FOUND);
    await rejects(call(accounts.deleteAccount.bind(accounts), { username: 'grace' }, admin()), status.NOT_FOUND);
  });

  test('RosterService edits follow the XMPP rules: pushes to interested resources, subscription requests to the contact', async () => {
    const got = await call(roster.getRoster.bind(roster), { jid: 'bob@localhost' }, reader());
    assert.deepEqual(got.items.map((i) => [i.jid, i.subscription]), [['alice@localhost', api.roster.Subscription.SUBSCRIPTION_BOTH]]);

    const bob = await login(1, 'bob', 'laptop');
    await bob.rosterGet(); // an interested resource (RFC 6121 §2.1.6)
    const dave = await login(0, 'dave', 'home');
    const bobMark = bob.mark();
    const daveMark = dave.mark();
    const up = await call(
      roster.upsertItem.bind(roster),
      { jid: 'bob@localhost', contactJid: 'dave@localhost', name: 'Dave', groups: ['Friends'], requestSubscription: true, approveSubscription: false },
      admin(),
    );
    assert.equal(up.item?.jid, 'dave@localhost');
    assert.equal(up.item?.name, 'Dave');
    assert.deepEqual(up.item?.groups, ['Friends']);
    assert.equal(up.item?.pendingOut, true, 'ask=subscribe after the request');
    await bob.expectStanza((s) => s.name === 'iq' && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.jid === 'dave@localhost', DEADLINE_MS, 'roster push to bob', bobMark);
    await dave.expectStanza(is.presenceFrom('bob@localhost', 'subscribe'), DEADLINE_MS, 'subscription request to dave', daveMark);

    await rejects(call(roster.upsertItem.bind(roster), { jid: 'bob@localhost', contactJid: 'x@@y', name: '', groups: [], requestSubscription: false, approveSubscription: false }, admin()), status.INVALID_ARGUMENT, 'contact_jid');
    await rejects(call(roster.upsertItem.bind(roster), { jid: 'bob@localhost', contactJid: 'dave@localhost', name: '', groups: ['a', 'a'], requestSubscription: false, approveSubscription: false }, admin()), status.INVALID_ARGUMENT, 'groups');
    await rejects(call(roster.upsertItem.bind(roster), { jid: 'nobody@localhost', contactJid: 'dave@localhost', name: '', groups: [], requestSubscription: false, approveSubscription: false }, admin()), status.NOT_FOUND);
    // Nothing partially applied: the refused edits left the item as it was.
    const after1 = await call(roster.getRoster.bind(roster), { jid: 'bob@localhost' }, reader());
    assert.deepEqual(after1.items.find((i) => i.jid === 'dave@localhost')?.groups, ['Friends']);

    const removed = await call(roster.removeItem.bind(roster), { jid: 'bob@localhost', contactJid: 'dave@localhost' }, admin());
    assert.ok(removed.version > up.version);
    await dave.expectStanza(is.presenceFrom('bob@localhost', 'unsubscribe'), DEADLINE_MS, 'the request withdrawn', daveMark);
    await rejects(call(roster.removeItem.bind(roster), { jid: 'bob@localhost', contactJid: 'dave@localhost' }, admin()), status.NOT_FOUND);
    await dave.stop();
  });

  test('ClusterService lists live nodes with session counts and every shard with its owner and epoch', async () => {
    await login(0, 'carol', 'one');
    await login(1, 'carol', 'two');
    const nodes = await until(
      () => call(clusterApi.listNodes.bind(clusterApi), {}, reader()),
      (r) => r.nodes.length === 2 && r.nodes.every((n) => n.sessions > 0),
      'both nodes heard, with sessions',
    );
    assert.deepEqual(nodes.nodes.map((n) => [n.nodeId, n.leaseState]), [['node-1', api.cluster.LeaseState.LEASE_STATE_LIVE], ['node-2', api.cluster.LeaseState.LEASE_STATE_LIVE]]);
    // Right after start the two replicas may still be handing shards over.
    const shards = await until(() => call(clusterApi.listShards.bind(clusterApi), {}, reader()), (r) => r.owners.length === 2 && r.shards.every((s) => s.ownerId !== ''), 'every shard owned');
    assert.equal(shards.shards.length, 256);
    assert.deepEqual(shards.owners, ['authority-1', 'authority-2']);
    assert.ok(shards.shards.every((s, i) => s.shard === i && s.ownerId !== '' && s.epoch > 0));
    // A lock is written once; the time shown is its owner's latest liveness renewal, so it moves while the owner lives.
    const before = shards.shards[0]?.renewedAtUnixMs ?? 0;
    assert.ok(before > 0, 'a held shard shows when its owner last renewed');
    await until(() => call(clusterApi.listShards.bind(clusterApi), {}, reader()), (r) => (r.shards[0]?.renewedAtUnixMs ?? 0) > before, 'a later renewal shown');
  });

  test('WatchPresence: a snapshot, then AVAILABLE, CLIENT_LOST and KICKED with gapless sequences; bad causes are named', async () => {
    await rejects(
      new Promise((resolve, reject) => {
        const s = presence.watchPresence({ jids: ['erin@localhost'], causes: [Number(99) as api.presence.ChangeCause] }, bearer(reader()));
        s.on('data', resolve);
        s.on('error', reject);
      }),
      status.INVALID_ARGUMENT,
      'causes[0]',
    );
    const w = watch(['erin@localhost']);
    const snap = await w.snapshot('erin snapshot');
    assert.deepEqual(snap.resources, []);
    const erin = await login(0, 'erin', 'a');
    const up = await w.change('erin/a available');
    assert.deepEqual([up.jid, up.resource, up.available, up.cause], ['erin@localhost', 'a', true, Cause.CHANGE_CAUSE_AVAILABLE]);
    erin.crash();
    const lost = await w.change('erin/a lost');
    assert.deepEqual([lost.resource, lost.available, lost.cause], ['a', false, Cause.CHANGE_CAUSE_CLIENT_LOST]);

    const erin2 = await login(1, 'erin', 'b');
    const up2 = await w.change('erin/b available');
    assert.equal(up2.cause, Cause.CHANGE_CAUSE_AVAILABLE);
    const kicked = await call(presence.kickSession.bind(presence), { fullJid: 'erin@localhost/b', reason: 'maintenance' }, admin());
    assert.notEqual(kicked.sessionId, '');
    const k = await w.change('erin/b kicked');
    assert.deepEqual([k.resource, k.available, k.cause], ['b', false, Cause.CHANGE_CAUSE_KICKED]);
    await eventually(() => erin2.errors.some((e) => (e as { condition?: string }).condition === 'policy-violation'), 'the stream error <policy-violation/>');

    const seqs = [up, lost, up2, k].map((c) => c.sequence);
    const base = snap.sequence?.counter ?? 0;
    assert.deepEqual(seqs.map((s) => s?.counter), [base + 1, base + 2, base + 3, base + 4], 'no gap in the sequence');
    assert.ok(seqs.every((s) => s?.epoch === snap.sequence?.epoch));

    await rejects(call(presence.kickSession.bind(presence), { fullJid: 'erin@localhost/b', reason: '' }, admin()), status.NOT_FOUND);
    await rejects(call(presence.kickSession.bind(presence), { fullJid: 'erin@localhost', reason: '' }, admin()), status.INVALID_ARGUMENT, 'full_jid');
    w.cancel();
  });

  test('a slow watcher is cut off with RESOURCE_EXHAUSTED and does not stall the authority', async () => {
    const stream = presence.watchPresence({ jids: ['frank@localhost'], causes: [] }, bearer(reader()));
    const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    // Nothing reads: grpc-js stops taking data, HTTP/2 flow control fills up, the server's buffer follows.
    const frank = await login(0, 'frank', 'spam');
    const status2k = 'x'.repeat(2048);
    const authority = cluster.authorities[0];
    assert.ok(authority);
    const tooSlow = authority.waitForLog((r) => r.msg === 'watch stream too slow; ending it', DEADLINE_MS, 'the slow watcher cut off');
    for (let i = 0; i < 300; i++) await frank.send(xml('presence', {}, xml('status', {}, `${i} ${status2k}`)));
    await tooSlow;
    // Meanwhile the authority answers as usual.
    const res = await getPresence('frank@localhost');
    assert.equal(res.presence?.resources.length, 1);
    stream.on('data', () => undefined);
    const error = await ended;
    assert.equal(error.code, status.RESOURCE_EXHAUSTED, error.details);
    await frank.stop();
  });

  test('WatchPresence sees a node SIGKILL as NODE_LOST, in order and without a gap', async () => {
    const w = watch(['dave@localhost', 'erin@localhost']);
    const snaps = [await w.snapshot('first snapshot'), await w.snapshot('second snapshot')];
    const daveSnap = snaps.find((s) => s.jid === 'dave@localhost');
    await login(1, 'dave', 'tablet');
    const up = await w.change('dave/tablet available');
    assert.equal(up.cause, Cause.CHANGE_CAUSE_AVAILABLE);
    cluster.node(1).service.signal('SIGKILL');
    const lost = await w.change('dave/tablet lost with its node');
    assert.deepEqual([lost.jid, lost.resource, lost.available, lost.cause], ['dave@localhost', 'tablet', false, Cause.CHANGE_CAUSE_NODE_LOST]);
    assert.equal(up.sequence?.counter, (daveSnap?.sequence?.counter ?? 0) + 1);
    assert.equal(lost.sequence?.counter, (daveSnap?.sequence?.counter ?? 0) + 2);
  });

  test('GetDetectionMetrics answers the sum of what both replicas export on /metrics, to read-scope tokens only', async () => {
    const get = clusterApi.getDetectionMetrics.bind(clusterApi);
    await rejects(call(get, {}, undefined), status.UNAUTHENTICATED);
    await rejects(call(get, {}, 'not-a-token-of-this-cluster'), status.UNAUTHENTICATED);
    // The tests above ended sessions as client-lost and node-lost (and graceful), on both replicas' shards.
    const DETECT = 'vigil_authority_detection_latency_seconds';
    const consistent = (r: api.cluster.GetDetectionMetricsResponse, scrapes: readonly MetricsScrape[]): boolean => {
      const total = (name: string, labels: Record<string, string>) => scrapes.reduce((s, m) => s + m.value(name, labels), 0);
      const causes = new Set(scrapes.flatMap((m) => m.samples.filter((x) => x.name === `${DETECT}_count`).map((x) => x.labels.cause ?? '')));
      return r.detectionLatency.length === causes.size && r.detectionLatency.every((d) => {
        const h = d.histogram;
        if (h === undefined || h.count !== total(`${DETECT}_count`, { cause: d.cause })) return false;
        if (Math.abs(h.sumSeconds - total(`${DETECT}_sum`, { cause: d.cause })) > 1e-9) return false;
        // /metrics shows cumulative buckets (le); the API counts per bucket.
        let below = 0;
        return h.boundsSeconds.every((bound, i) => {
          below += h.counts[i] ?? 0;
          const le = scrapes.flatMap((m) => m.samples.filter((x) => x.name === `${DETECT}_bucket` && x.labels.cause === d.cause && Number(x.labels.le) === bound));
          return le.length > 0 && below === le.reduce((s, x) => s + x.value, 0);
        });
      }) && r.fanOut.every((f) => f.total === total('vigil_authority_fanout_stanzas_total', { kind: f.kind }));
    };
    const [r] = await until(
      async () => {
        const res = await call(get, {}, reader());
        return [res, await Promise.all(cluster.authorityMetricsUrls.map((u) => scrapeMetrics(u)))] as const;
      },
      // A death is timed when detected; its unavailable is counted when fanned out, a roster read later.
      ([res, scrapes]) => res.authorities.length === 2 && ['client-lost', 'node-lost'].every((c) => res.detectionLatency.some((d) => d.cause === c))
        && (res.fanOut.find((f) => f.kind === 'unavailable')?.total ?? 0) > 0 && consistent(res, scrapes),
      'the API and /metrics agree, with every cause the tests above caused',
    );
    assert.deepEqual(r.authorities.map((a) => a.authorityId), ['authority-1', 'authority-2']);
    assert.deepEqual(r.unanswered, []);
    // Kicks are decided, not detected: they are not timed.
    assert.deepEqual(r.detectionLatency.map((d) => d.cause).filter((c) => c !== 'graceful'), ['client-lost', 'node-lost']);
    const counted = r.detectionLatency.reduce((n, d) => n + (d.histogram?.count ?? 0), 0);
    assert.equal(r.authorities.reduce((n, a) => n + a.detections, 0), counted, "the replicas' own counts add up to the histograms");
    assert.ok((r.fanOut.find((f) => f.kind === 'unavailable')?.total ?? 0) > 0);
    // Each call samples the counters: the next one has a rate, over the time since.
    const again = await call(get, {}, admin());
    assert.ok(again.authorities.every((a) => a.rateWindowMs > 0 && a.unavailablePerSecond >= 0), JSON.stringify(again.authorities));

    // A replica that cannot answer (paused, its lease not yet over) is named, not waited for beyond a second.
    const paused = cluster.authorities[1];
    assert.ok(paused);
    paused.signal('SIGSTOP');
    try {
      const partial = await call(get, {}, reader());
      assert.deepEqual(partial.unanswered, ['authority-2']);
      assert.deepEqual(partial.authorities.map((a) => a.authorityId), ['authority-1']);
    } finally {
      paused.signal('SIGCONT');
    }
  });

  test('ListNatsServers names the NATS server, reachable and in use, to read-scope tokens only', async () => {
    const list = clusterApi.listNatsServers.bind(clusterApi);
    await rejects(call(list, {}, undefined), status.UNAUTHENTICATED);
    const r = await call(list, {}, reader());
    assert.deepEqual(
      r.servers.map((s) => [s.address, s.configured, s.reachable, s.connected, s.error]),
      [[cluster.natsUrl.replace('nats://', ''), true, true, true, '']],
    );
    assert.match(r.servers[0]?.version ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(r.authorityId, 'authority-1');
  });
});
