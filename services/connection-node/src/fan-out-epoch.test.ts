import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { subjects } from '@vigil/cluster';
import { createLogger } from '@vigil/telemetry';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { ClusterLink } from './cluster-link.js';
import { readNodeConfig } from './config.js';
import type { LocalSession } from './local-sessions.js';

// Fencing of the fan-outs a node receives (docs/decisions.md, "Fencing
// unchanged" under the fan-out scan): a real ClusterLink on a real
// nats-server, this test publishing what shard owners would. Sessions are
// plain LocalSession values whose send() records what the client would get.

const S = subjects('vigil');
const DEPOSED = 'delivery from a deposed shard owner dropped';
const BOB = 'bob@localhost/phone';
const BOB_BARE = 'bob@localhost';
/** A user with no session on this node. */
const CAROL = 'carol@localhost/desk';

interface Recorded extends LocalSession {
  readonly got: string[];
}

interface Warning {
  readonly shard: number;
  readonly epoch: number;
  readonly current: number;
}

/** One thing a shard owner sends: a fan-out (in a batch) or a delivery on the user's subject. */
interface Sent {
  readonly kind: 'fan-out' | 'delivery';
  readonly id: string;
  readonly shard: number;
  readonly epoch: number;
  readonly to: readonly string[];
  /** A fan-out that starts a new batch (the first always does). */
  readonly newBatch?: boolean;
}

describe('connection node: epochs of fan-outs per shard', () => {
  let server: NatsServer;
  let linkNc: NatsConnection;
  let owner: NatsConnection;
  let link: ClusterLink;
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let sentinelSeq = 0;
  const sessions = new Map<string, Recorded>();

  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };

  const session = (fullJid: string): Recorded => {
    const bareJid = fullJid.split('/')[0] ?? fullJid;
    const got: string[] = [];
    const s: Recorded = {
      id: `id-${fullJid}`, fullJid, bareJid, shard: link.shardOf(bareJid),
      available: true, presenceXml: '', priority: 0, announced: false, presenceSeq: 0,
      rosterInterested: false, blocklistInterested: false,
      send: (xml) => {
        got.push(xml);
        notify();
      },
      kick: () => undefined,
      got,
    };
    return s;
  };

  const bind = async (fullJid: string): Promise<Recorded> => {
    const s = session(fullJid);
    link.sessions.add(s);
    sessions.set(fullJid, s);
    await linkNc.flush(); // the delivery subscription of a first session is at the server before anything is sent to it
    return s;
  };

  const unbind = (fullJid: string) => {
    const s = sessions.get(fullJid);
    if (s) link.sessions.remove(s);
    sessions.delete(fullJid);
  };

  const warnings = (): Warning[] =>
    lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.msg === DEPOSED)
      .map((r) => ({ shard: Number(r.shard), epoch: Number(r.epoch), current: Number(r.current) }));

  /** Ids of the stanzas a session was written, in order. */
  const ids = (s: Recorded): string[] => s.got.map((x) => /id='([^']+)'/.exec(x)?.[1] ?? `?${x}`);

  const fanOut = (f: Sent): cluster.FanOut => ({ stanzaXml: `<presence id='${f.id}'/>`, fromBareJid: 'alice@localhost', shard: f.shard, epoch: f.epoch, toJids: [...f.to] });

  /**
   * Publishes everything in order (consecutive fan-outs share a batch unless
   * one starts a new one), then waits until the node has handled it: a last
   * fan-out of epoch 0 to a session of its own arrives after all of it
   * (one subscription connection, one inbound queue, arrival order).
   */
  const send = async (sent: readonly Sent[]): Promise<void> => {
    let batch: cluster.FanOut[] = [];
    const flushBatch = () => {
      if (batch.length > 0) owner.publish(S.fanOut, cluster.FanOutBatch.encode({ fanOuts: batch }).finish());
      batch = [];
    };
    for (const x of sent) {
      if (x.kind === 'delivery') {
        flushBatch();
        for (const to of x.to) {
          const bare = to.split('/')[0] ?? to;
          const d: cluster.Delivery = {
            toJid: to, stanzaXml: `<presence to='${to}' id='${x.id}'/>`, shard: x.shard, epoch: x.epoch,
            kind: cluster.DeliveryKind.DELIVERY_KIND_PRESENCE, fromBareJid: 'alice@localhost', blockList: [],
          };
          owner.publish(S.deliver(bare), cluster.Delivery.encode(d).finish());
        }
        continue;
      }
      if (x.newBatch === true) flushBatch();
      batch.push(fanOut(x));
    }
    flushBatch();
    const id = `sentinel-${++sentinelSeq}`;
    const sentinel = sessions.get('sentinel@localhost/s');
    assert.ok(sentinel);
    owner.publish(S.fanOut, cluster.FanOutBatch.encode({ fanOuts: [{ stanzaXml: `<presence id='${id}'/>`, fromBareJid: '', shard: 0, epoch: 0, toJids: [sentinel.fullJid] }] }).finish());
    await owner.flush();
    await withDeadline(
      new Promise<void>((resolve) => {
        const check = () => (ids(sentinel).includes(id) ? resolve() : void waiters.push(check));
        check();
      }),
      5000,
      `the node handling what was sent before ${id}`,
    );
  };

  before(async () => {
    server = await startNatsServer();
    linkNc = await connect({ servers: server.url });
    owner = await connect({ servers: server.url });
    const config = readNodeConfig({ VIGIL_NODE_ID: 'epochs' });
    link = new ClusterLink(linkNc, config, createLogger({}, { level: 'warn', write: (line) => void lines.push(line) }));
    link.start();
    await bind('sentinel@localhost/s');
  });

  after(async () => {
    link?.stop();
    await linkNc?.close();
    await owner?.close();
    await server?.stop();
  });

  beforeEach(async () => {
    lines.length = 0;
    for (const full of [...sessions.keys()]) if (full !== 'sentinel@localhost/s') unbind(full);
    await bind(BOB);
  });

  test('a fan-out of an epoch older than the shard\'s is dropped, with a warning naming both epochs', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    await send([
      { kind: 'fan-out', id: 'e3', shard: 10, epoch: 3, to: [BOB] },
      { kind: 'fan-out', id: 'e2', shard: 10, epoch: 2, to: [BOB], newBatch: true },
      { kind: 'fan-out', id: 'e3-again', shard: 10, epoch: 3, to: [BOB], newBatch: true },
    ]);
    assert.deepEqual(ids(bob), ['e3', 'e3-again'], 'the older epoch reached the client, or the same epoch did not');
    assert.deepEqual(warnings(), [{ shard: 10, epoch: 2, current: 3 }]);
  });

  test('a newer epoch is taken and becomes the mark: the epoch it replaced is refused from then on', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    await send([
      { kind: 'fan-out', id: 'e1', shard: 11, epoch: 1, to: [BOB] },
      { kind: 'fan-out', id: 'e4', shard: 11, epoch: 4, to: [BOB] },
      { kind: 'fan-out', id: 'e1-late', shard: 11, epoch: 1, to: [BOB] },
      { kind: 'fan-out', id: 'e3-late', shard: 11, epoch: 3, to: [BOB] },
    ]);
    assert.deepEqual(ids(bob), ['e1', 'e4']);
    assert.deepEqual(warnings(), [{ shard: 11, epoch: 1, current: 4 }, { shard: 11, epoch: 3, current: 4 }]);
  });

  test('a fan-out with no recipient on this node still raises the shard\'s mark', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    await send([
      { kind: 'fan-out', id: 'e2', shard: 12, epoch: 2, to: [BOB] },
      { kind: 'fan-out', id: 'carol-e5', shard: 12, epoch: 5, to: [CAROL] },
      // In another batch, so the scan of one batch cannot explain it.
      { kind: 'fan-out', id: 'e4', shard: 12, epoch: 4, to: [BOB], newBatch: true },
    ]);
    assert.deepEqual(ids(bob), ['e2'], 'an epoch older than one seen only in a fan-out for others reached the client');
    assert.deepEqual(warnings(), [{ shard: 12, epoch: 4, current: 5 }]);
  });

  test('a fan-out with no recipient on this node from a deposed owner still logs the warning', async () => {
    await send([
      { kind: 'fan-out', id: 'e5', shard: 13, epoch: 5, to: [BOB] },
      { kind: 'fan-out', id: 'carol-e3', shard: 13, epoch: 3, to: [CAROL], newBatch: true },
      { kind: 'fan-out', id: 'carol-e5', shard: 13, epoch: 5, to: [CAROL] },
    ]);
    assert.deepEqual(warnings(), [{ shard: 13, epoch: 3, current: 5 }]);
  });

  test('a fan-out with no local recipient is checked against a mark a delivery raised', async () => {
    // The mark that decides whether a fan-out without local recipients needs the check counts deliveries too:
    // epoch 2 by fan-out, then 6 by delivery; a fan-out for others at 2 must still be refused.
    const bob = sessions.get(BOB);
    assert.ok(bob);
    await send([
      { kind: 'fan-out', id: 'e2', shard: 14, epoch: 2, to: [BOB] },
      { kind: 'delivery', id: 'd6', shard: 14, epoch: 6, to: [BOB_BARE] },
      { kind: 'fan-out', id: 'carol-e2', shard: 14, epoch: 2, to: [CAROL] },
    ]);
    assert.deepEqual(ids(bob), ['e2', 'd6']);
    assert.deepEqual(warnings(), [{ shard: 14, epoch: 2, current: 6 }]);
  });

  test('epochs are per shard: a high epoch of one shard fences no other', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    await send([
      { kind: 'fan-out', id: 's15-e9', shard: 15, epoch: 9, to: [BOB] },
      { kind: 'fan-out', id: 's16-e1', shard: 16, epoch: 1, to: [BOB] },
    ]);
    assert.deepEqual(ids(bob), ['s15-e9', 's16-e1']);
    assert.deepEqual(warnings(), []);
  });

  test('the recipients on this node when a batch arrives are the ones written to: a session bound while it waits gets none of it', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    const dave = session('dave@localhost/tablet');
    // Bound while the batch waits in the node's queue: when bob is written the first fan-out, the second is queued already.
    let bound = false;
    const bobSend = bob.send;
    const bobBindsDave: Recorded = {
      ...bob,
      send: (xml) => {
        if (!bound) {
          bound = true;
          link.sessions.add(dave);
          sessions.set(dave.fullJid, dave);
        }
        bobSend(xml);
      },
    };
    unbind(BOB);
    link.sessions.add(bobBindsDave);
    sessions.set(BOB, bobBindsDave);
    await send([
      { kind: 'fan-out', id: 'first', shard: 17, epoch: 1, to: [BOB] },
      { kind: 'fan-out', id: 'second', shard: 17, epoch: 1, to: [BOB, 'dave@localhost/tablet', 'dave@localhost'] },
      { kind: 'fan-out', id: 'only-dave', shard: 17, epoch: 1, to: ['dave@localhost'] },
    ]);
    assert.ok(bound, 'dave was never bound');
    assert.deepEqual(ids(bob), ['first', 'second']);
    assert.deepEqual(ids(dave), [], 'a session bound after the batch arrived was written a fan-out decided before it existed');
    // A batch arriving after the bind reaches it.
    await send([{ kind: 'fan-out', id: 'third', shard: 17, epoch: 1, to: ['dave@localhost/tablet'] }]);
    assert.deepEqual(ids(dave), ['third']);
  });

  test('a session unbound while the batch waits is not written to', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    const erin = await bind('erin@localhost/r');
    const bobSend = bob.send;
    const bobUnbindsErin: Recorded = {
      ...bob,
      send: (xml) => {
        unbind(erin.fullJid);
        bobSend(xml);
      },
    };
    unbind(BOB);
    link.sessions.add(bobUnbindsErin);
    sessions.set(BOB, bobUnbindsErin);
    await send([
      { kind: 'fan-out', id: 'first', shard: 18, epoch: 1, to: [BOB] },
      { kind: 'fan-out', id: 'second', shard: 18, epoch: 1, to: [erin.fullJid, 'erin@localhost'] },
    ]);
    assert.deepEqual(ids(bob), ['first']);
    assert.deepEqual(ids(erin), []);
  });

  test('every epoch decision and warning is the one checking each fan-out and delivery in arrival order gives', async () => {
    const bob = sessions.get(BOB);
    assert.ok(bob);
    let run = 0;
    const recipients = fc.constantFrom<readonly string[]>([BOB], [BOB_BARE], [CAROL], [CAROL, BOB], ['carol@localhost'], []);
    const event = fc.record({
      kind: fc.constantFrom<'fan-out' | 'delivery'>('fan-out', 'fan-out', 'fan-out', 'delivery'),
      shard: fc.integer({ min: 0, max: 1 }),
      epoch: fc.integer({ min: 0, max: 4 }),
      to: recipients,
      newBatch: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 12 }), async (events) => {
        // A fresh pair of shards per run: the node keeps its marks from run to run.
        const base = 1000 + 2 * run++;
        lines.length = 0;
        bob.got.length = 0;
        const sent: Sent[] = events.map((e, i) => ({
          ...e, id: `x${i}`, shard: base + e.shard,
          // A delivery goes to one user's subject: only bob's are subscribed here.
          to: e.kind === 'delivery' ? [BOB_BARE] : e.to,
        }));
        await send(sent);
        // The rule of "Fencing unchanged": per shard the highest epoch seen; older is dropped and logged; 0 always passes.
        const marks = new Map<number, number>();
        const delivered: string[] = [];
        const warned: Warning[] = [];
        for (const x of sent) {
          const mark = marks.get(x.shard) ?? 0;
          let fresh = true;
          if (x.epoch !== 0 && x.epoch < mark) {
            warned.push({ shard: x.shard, epoch: x.epoch, current: mark });
            fresh = false;
          } else if (x.epoch > mark) {
            marks.set(x.shard, x.epoch);
          }
          if (fresh && x.to.some((t) => t === BOB || t === BOB_BARE)) delivered.push(x.id);
        }
        assert.deepEqual(ids(bob), delivered);
        assert.deepEqual(warnings(), warned);
      }),
      { numRuns: 200 },
    );
  });
});
