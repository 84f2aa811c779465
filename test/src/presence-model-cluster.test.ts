import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cluster, PresenceModel, TestClient, xml, type Received, type Stanza } from '@vigil/testkit';

// The presence model's property, through the real cluster: real clients on
// two connection nodes, random operations, and after every step a barrier so
// each operation has fully played out before the next (as the model assumes).
// Fewer runs than the in-memory property (services/presence-authority), each
// with fresh users.
const DEADLINE_MS = 10_000;
const RESOURCES = ['r1', 'r2'] as const;

type Op =
  | { kind: 'connect'; u: number; r: number; node: number }
  | { kind: 'available' | 'unavailable' | 'logout' | 'crash'; u: number; r: number }
  | { kind: 'subscription'; u: number; r: number; v: number; type: 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed' }
  | { kind: 'block' | 'unblock'; u: number; r: number; v: number }
  | { kind: 'directed'; u: number; r: number; v: number; vr: number; toFull: boolean; available: boolean };

const idx = (n: number) => fc.integer({ min: 0, max: n - 1 });
const ur = { u: idx(3), r: idx(RESOURCES.length) };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('connect' as const), ...ur, node: idx(2) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('available' as const), ...ur }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('unavailable' as const, 'logout' as const, 'crash' as const), ...ur }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('subscription' as const), ...ur, v: idx(3),
      type: fc.constantFrom('subscribe' as const, 'subscribed' as const, 'unsubscribe' as const, 'unsubscribed' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('block' as const, 'unblock' as const), ...ur, v: idx(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('directed' as const), ...ur, v: idx(3), vr: idx(2), toFull: fc.boolean(), available: fc.boolean() }) },
);
const graphArb = fc.uniqueArray(fc.tuple(idx(3), idx(3)).filter(([a, b]) => a !== b), { selector: ([a, b]) => `${a}>${b}`, maxLength: 4 });

let cluster: Cluster;
let runNo = 0;
let checked = 0;

before(async () => {
  cluster = await Cluster.start({ nodes: 2, echo: process.env.VIGIL_TEST_ECHO === '1' });
});

after(async () => {
  await cluster?.stop();
});

const availability = (list: Received[]) => list.filter((r) => r.type === '' || r.type === 'unavailable').map((r) => `${r.to} <- ${r.from} ${r.type || 'available'}`).sort();

async function run(graph: [number, number][], ops: Op[]): Promise<void> {
  runNo++;
  const users = ['a', 'b', 'c'].map((x) => `${x}${runNo}@localhost`);
  const local = (u: string) => u.split('@')[0] as string;
  const both = new Set(graph.map(([a, b]) => `${a}>${b}`));
  const contacts = graph.flatMap(([a, b]) => {
    const reverse = both.has(`${b}>${a}`);
    return [
      { owner: local(users[a] as string), contact: local(users[b] as string), subscription: reverse ? ('both' as const) : ('to' as const) },
      { owner: local(users[b] as string), contact: local(users[a] as string), subscription: reverse ? ('both' as const) : ('from' as const) },
    ];
  });
  // Pairs listed in both directions give the same item twice; provision keeps the last, which is the same.
  await cluster.provision(users.map((u) => ({ username: local(u), password: 'pw' })), contacts);
  const model = new PresenceModel();
  for (const [a, b] of graph) model.subs.add(`${users[a]}>${users[b]}`);
  const clients = new Map<string, { client: TestClient; node: number }>();
  const received: Received[] = [];
  const record = (c: TestClient) => (s: Stanza) => {
    if (s.name === 'presence') received.push({ to: c.jid, from: s.attrs.from ?? '', type: s.attrs.type ?? '' });
  };

  /**
   * Every user's queue at the authority and every node's output has drained. Three rounds: an
   * operation's effects can take two hops between users' queues (a's 'unsubscribed' runs in a's
   * queue, then in c's), and on the last hop a node writes an iq reply at once while the
   * deliveries the owner sent before it wait for the node's inbound queue (a later turn), so
   * the second round's reply to c could overtake the unavailable it was waiting for (seen once
   * under load); the third round's round trip cannot.
   */
  const barrier = async () => {
    for (let round = 0; round < 3; round++) {
      await Promise.all([...clients.values()].map(({ client }) => client.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })))));
    }
  };
  const closed = async (jid: string, node: number, close: () => void | Promise<void>) => {
    const seen = cluster.node(node).service.waitForLog((r) => r.msg === 'session closed' && r.user === jid && !gone.has(r), DEADLINE_MS, `${jid} closed`);
    await close();
    gone.add(await seen);
  };
  const gone = new Set<object>();

  // Everyone starts online, one resource each, spread over both nodes.
  const applied: string[] = [];
  const opening: Op[] = [0, 1, 2].flatMap((u): Op[] => [{ kind: 'connect', u, r: 0, node: u % 2 }, { kind: 'available', u, r: 0 }]);
  try {
    for (const op of [...opening, ...ops]) {
      // Operations other than connect act on one of the sessions that exist, so few steps are wasted.
      const live = [...clients.keys()];
      const own = `${users[op.u] as string}/${RESOURCES[op.r] as string}`;
      const jid = op.kind === 'connect' || clients.has(own) ? own : live[(op.u * 2 + op.r) % Math.max(1, live.length)] ?? '';
      const entry = clients.get(jid);
      const self = users.indexOf(jid.split('/')[0] ?? '');
      switch (op.kind) {
        case 'connect': {
          if (entry) continue;
          const client = await TestClient.connect({ port: cluster.node(op.node).port, domain: 'localhost', username: local(users[op.u] as string), password: 'pw', resource: RESOURCES[op.r] });
          client.xmpp.on('stanza', record(client));
          clients.set(jid, { client, node: op.node });
          model.bind(jid, `n${op.node}`);
          break;
        }
        case 'available':
        case 'unavailable':
          if (!entry) continue;
          await entry.client.sendPresence(op.kind === 'available' ? {} : { type: 'unavailable' });
          model.presence(jid, op.kind === 'available');
          break;
        case 'logout':
        case 'crash':
          if (!entry) continue;
          clients.delete(jid);
          await closed(jid, entry.node, () => (op.kind === 'logout' ? entry.client.stop() : entry.client.crash()));
          model.end(jid);
          break;
        case 'subscription': {
          const v = users[op.v] as string;
          const u = users[self] as string;
          if (!entry || u === v || model.isBlocked(u, v) || model.isBlocked(v, u)) continue;
          await entry.client.sendPresence({ to: v, type: op.type });
          model.subscription(jid, v, op.type);
          break;
        }
        case 'block':
        case 'unblock': {
          const v = users[op.v] as string;
          if (!entry || users[self] === v) continue;
          const reply = await entry.client.request(xml('iq', { type: 'set' }, xml(op.kind, { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: v }))));
          assert.equal(reply.attrs.type, 'result');
          model.block(jid, v, op.kind);
          break;
        }
        case 'directed': {
          if (!entry || self === op.v) continue;
          const to = op.toFull ? `${users[op.v] as string}/${RESOURCES[op.vr] as string}` : (users[op.v] as string);
          await entry.client.sendPresence(op.available ? { to } : { to, type: 'unavailable' });
          model.directed(jid, to, op.available);
          break;
        }
      }
      await barrier();
      const expected = availability(model.take());
      checked += expected.length;
      applied.push(`${JSON.stringify(op)} on ${jid}`);
      assert.deepEqual(availability(received.splice(0)), expected, `graph ${JSON.stringify(graph)}, steps:\n${applied.join('\n')}`);
    }
  } finally {
    await Promise.all([...clients.values()].map(({ client }) => client.stop()));
  }
}

test('through the real cluster, every presence goes to exactly the recipients the model names', async () => {
  await fc.assert(fc.asyncProperty(graphArb, fc.array(opArb, { minLength: 12, maxLength: 24, size: 'max' }), run), { numRuns: 6, endOnFailure: true });
  assert.ok(checked >= 30, `only ${checked} deliveries were checked: the generator stopped exercising presence`);
});
