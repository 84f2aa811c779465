import { cluster } from '@vigil/proto';
import { createLogger } from '@vigil/telemetry';
import {
  EMPTY_RECORD, RevisionConflictError,
  type LastSeen, type LastSeenRepository, type RosterRecord, type VersionedLastSeen, type RosterRepository, type VersionedRecord,
} from '@vigil/store';
import type { Subscription } from '@vigil/roster';
import { parseStanza } from '@vigil/xmpp';
import { readAuthorityConfig } from '../config.js';
import type { AuthorityContext } from '../context.js';
import { AuthorityMetrics } from '../metrics.js';
import { IqCore } from '../iq.js';
import { KeyedQueue } from '../keyed-queue.js';
import { NO_JOURNAL } from '../journal.js';
import type { OutboxPort } from '../outbox.js';
import { PresenceCore } from '../presence.js';
import { NO_PRESENCE_EVENTS } from '../presence-events.js';
import { SessionRegistry } from '../registry.js';
import { RosterEditor } from '../roster-editor.js';
import { handleInbound, SubscriptionCore } from '../subscriptions.js';
import { UserRecords } from '../user-records.js';

import type { Received } from '@vigil/testkit';

class MemoryRosters implements RosterRepository {
  readonly #data = new Map<string, VersionedRecord>();
  async get(username: string): Promise<VersionedRecord> {
    return this.#data.get(username) ?? { record: EMPTY_RECORD, revision: 0 };
  }
  async put(username: string, record: RosterRecord, expectedRevision: number): Promise<number> {
    const current = this.#data.get(username)?.revision ?? 0;
    if (current !== expectedRevision) throw new RevisionConflictError('memory', username, `at ${current}`);
    this.#data.set(username, { record, revision: current + 1 });
    return current + 1;
  }
}

/** Last-seen values in memory, with revisions as KV keeps them (a deletion too is a revision). */
export class MemoryLastSeen implements LastSeenRepository {
  readonly #data = new Map<string, { readonly value: LastSeen | undefined; readonly revision: number }>();
  #revision = 0;
  async get(username: string): Promise<LastSeen | undefined> {
    return this.#data.get(username)?.value;
  }
  async put(username: string, value: LastSeen): Promise<void> {
    this.#data.set(username, { value, revision: ++this.#revision });
  }
  async read(username: string): Promise<VersionedLastSeen> {
    return this.#data.get(username) ?? { value: undefined, revision: 0 };
  }
  async update(username: string, value: LastSeen, expectedRevision: number): Promise<number> {
    const current = this.#data.get(username)?.revision ?? 0;
    if (current !== expectedRevision) throw new RevisionConflictError('memory', username, `at ${current}`);
    this.#data.set(username, { value, revision: ++this.#revision });
    return this.#revision;
  }
  async remove(username: string): Promise<void> {
    if (this.#data.has(username)) this.#data.set(username, { value: undefined, revision: ++this.#revision });
  }
}

interface NodeSession {
  readonly user: string;
  readonly node: string;
  available: boolean;
  priority: number;
  announced: boolean;
  seq: number;
}

const bare = (jid: string): string => jid.split('/')[0] ?? jid;

/**
 * The authority's real presence, subscription and blocking code, with KV and
 * NATS replaced by memory and the connection nodes' delivery rules played
 * here: a whole cluster's presence decisions in one process, for property
 * tests that run thousands of operations.
 */
export class InMemoryCluster implements OutboxPort {
  readonly domain = 'x';
  readonly sessions = new Map<string, NodeSession>();
  /** The nodes' copies of each user's block list, kept from block pushes as real nodes do. */
  readonly #blockLists = new Map<string, Set<string>>();
  #received: Received[] = [];
  readonly #errors: unknown[] = [];
  readonly #queue = new KeyedQueue((_key, e) => this.#errors.push(e));
  /** Restored probes' last-seen reads not yet ended (see probe()). */
  readonly #reads = new Set<Promise<void>>();
  readonly #registry = new SessionRegistry();
  readonly #presence: PresenceCore;
  readonly #subscriptions: SubscriptionCore;
  readonly #iq: IqCore;
  readonly #rosters = new MemoryRosters();
  readonly #log = createLogger({}, { level: 'error' });
  #ids = 0;

  /** `epochOf`: this replica's epoch of each shard; epoch 1 of every shard unless a test loses one. */
  constructor(options: { readonly lastSeen?: LastSeenRepository; readonly epochOf?: (shard: number) => number | undefined } = {}) {
    const ctx: AuthorityContext = {
      config: readAuthorityConfig({ VIGIL_DOMAIN: this.domain }),
      log: this.#log,
      registry: this.#registry,
      records: new UserRecords(this.#rosters, 1000, () => 0), // one replica owns every shard here
      lastSeen: options.lastSeen ?? new MemoryLastSeen(),
      epochOf: options.epochOf ?? (() => 1),
      outbox: this,
      queue: this.#queue,
      journal: NO_JOURNAL,
      events: NO_PRESENCE_EVENTS,
      wallNowMs: () => 0,
      metrics: new AuthorityMetrics({ shardCount: 256, nodeLeaseMs: 3000 }),
    };
    this.#presence = new PresenceCore(ctx);
    this.#subscriptions = new SubscriptionCore(ctx, this.#presence, async () => true);
    this.#iq = new IqCore(ctx, this.#presence, new RosterEditor(ctx, this.#presence, this.#subscriptions));
  }

  /** Writes a roster item straight to storage, as provisioning does. */
  async setItem(owner: string, contact: string, subscription: Subscription): Promise<void> {
    const { record, revision } = await this.#rosters.get(owner.split('@')[0] ?? owner);
    const items = [...record.roster.items.filter((i) => i.jid !== contact), { jid: contact, name: '', subscription, pendingOut: false, groups: [] }];
    await this.#rosters.put(owner.split('@')[0] ?? owner, { ...record, roster: { version: record.roster.version + 1, items } }, revision);
  }

  /** Everything delivered since the last call. */
  take(): Received[] {
    const out = this.#received;
    this.#received = [];
    return out;
  }

  bind(full: string, node: string): void {
    this.sessions.set(full, { user: bare(full), node, available: false, priority: 0, announced: false, seq: 0 });
  }

  /** `restored`: the initial presence of a session a XEP-0198 resumption brought back after it had ended. */
  async presence(full: string, available: boolean, options: { readonly restored?: boolean } = {}): Promise<void> {
    const s = this.#session(full);
    s.available = available;
    s.announced = true;
    const xml = available ? `<presence from='${full}'/>` : `<presence from='${full}' type='unavailable'/>`;
    s.seq++;
    const restored = options.restored ?? false;
    await this.#run(s.user, () => this.#presence.broadcast(this.#ref(full), { stanzaXml: xml, available, priority: 0, seq: s.seq, restored }));
  }

  async directed(full: string, to: string, available: boolean): Promise<void> {
    const s = this.#session(full);
    s.announced = true;
    const xml = available ? `<presence from='${full}'/>` : `<presence from='${full}' type='unavailable'/>`;
    await this.#run(s.user, () => this.#presence.directed(this.#ref(full), { toJid: to, stanzaXml: xml, available }));
  }

  /** The client's stream ended (any cause): the node drops it and tells the owner if it was announced. */
  async end(full: string): Promise<void> {
    const s = this.#session(full);
    this.sessions.delete(full);
    const record = this.#registry.get(full);
    if (s.announced && record) await this.#run(s.user, async () => void (await this.#presence.end(record, cluster.EndCause.END_CAUSE_CLIENT_LOST, 'test')));
  }

  /** A node dies: its sockets are gone at once; the owner then ends each session it knew. */
  async nodeCrash(node: string): Promise<void> {
    const dead = [...this.sessions].filter(([, s]) => s.node === node).map(([full]) => full);
    for (const full of dead) this.sessions.delete(full);
    for (const full of dead) {
      const record = this.#registry.get(full);
      if (record) await this.#run(record.bareJid, async () => void (await this.#presence.end(record, cluster.EndCause.END_CAUSE_NODE_LOST, 'test')));
    }
  }

  async subscription(fromFull: string, toBare: string, type: 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed'): Promise<void> {
    const s = this.#session(fromFull);
    s.announced = true;
    this.#presence.recordFor(this.#ref(fromFull));
    await this.#run(s.user, () => this.#subscriptions.outbound(s.user, toBare, type, `<presence from='${s.user}' type='${type}'/>`));
  }

  async presenceError(fromFull: string, toFull: string): Promise<void> {
    const msg: cluster.InboundStanza = {
      fromJid: bare(fromFull), toJid: toFull, kind: cluster.InboundKind.INBOUND_KIND_PRESENCE_ERROR, type: 'error', stanzaXml: '', fromShard: 0, fromEpoch: 0,
    };
    await this.#run(bare(toFull), () => handleInbound(msg, this.#subscriptions, this.#presence, this.#log));
  }

  async block(full: string, jid: string, kind: 'block' | 'unblock'): Promise<void> {
    const user = bare(full);
    const iq = `<iq type='set' id='b${++this.#ids}' from='${full}'><${kind} xmlns='urn:xmpp:blocking'><item jid='${jid}'/></${kind}></iq>`;
    await this.#run(user, async () => {
      const res = await this.#iq.handle({ session: this.#ref(full), stanzaXml: iq });
      if (!/type='result'/.test(res.stanzaXml)) throw new Error(`block failed: ${res.stanzaXml}`);
    });
  }

  /** What account deletion does before it removes the stored last-seen (PresenceCore.forgetLastSeen). */
  forgetLastSeen(user: string): Promise<void> {
    return this.#presence.forgetLastSeen(user);
  }

  /** Stores the last-seen values decided so far now (what a graceful hand-over does). */
  flushLastSeen(): Promise<void> {
    return this.#presence.flushLastSeen();
  }

  /** XEP-0012: `fromFull` asks for `toBare`'s last activity; the reply stanza. */
  async lastActivity(fromFull: string, toBare: string): Promise<string> {
    const iq = `<iq type='get' id='l${++this.#ids}' from='${fromFull}' to='${toBare}'><query xmlns='jabber:iq:last'/></iq>`;
    let reply = '';
    await this.#run(toBare, async () => {
      reply = (await this.#iq.handle({ session: this.#ref(fromFull), stanzaXml: iq })).stanzaXml;
    });
    return reply;
  }

  // --- OutboxPort: what the connection nodes do with each publication ---

  deliver(to: string, stanzaXml: string, fromBareJid: string, kind: cluster.DeliveryKind = cluster.DeliveryKind.DELIVERY_KIND_PRESENCE): void {
    const st = parseStanza(stanzaXml);
    if (st.name !== 'presence') return;
    const type = st.attr('type') ?? '';
    const from = st.attr('from') ?? '';
    const user = bare(to);
    if (fromBareJid !== '' && this.#blockLists.get(user)?.has(fromBareJid)) return;
    if (to.includes('/')) {
      if (this.sessions.has(to)) this.#received.push({ to, from, type });
      return;
    }
    for (const [full, s] of this.sessions) {
      if (s.user === user && s.available && kind === cluster.DeliveryKind.DELIVERY_KIND_PRESENCE) this.#received.push({ to: full, from, type });
    }
  }

  send(): void {
    // Replies and kicks have no one to reach in memory: the caller's result is what tests read.
  }

  fanOut(to: readonly string[], stanzaXml: string, fromBareJid: string): void {
    for (const jid of to) this.deliver(jid, stanzaXml, fromBareJid);
  }

  push(userBareJid: string, _stanzaXml: string, kind: cluster.DeliveryKind, blockList: readonly string[] = []): void {
    if (kind === cluster.DeliveryKind.DELIVERY_KIND_BLOCK_PUSH) this.#blockLists.set(userBareJid, new Set(blockList));
  }

  probe(msg: cluster.Probe): void {
    if (!msg.restored) {
      void this.#queue.run(msg.toBareJid, () => this.#presence.answerProbe(msg));
      return;
    }
    // As the authority does: a restored probe's read first, outside the contact's queue.
    const read = this.#presence.endsFor(msg).then((ended) => void this.#queue.run(msg.toBareJid, () => this.#presence.answerProbe(msg, ended)));
    this.#reads.add(read);
    void read.finally(() => this.#reads.delete(read));
  }

  inbound(msg: cluster.InboundStanza): void {
    void this.#queue.run(bare(msg.toJid), () => handleInbound(msg, this.#subscriptions, this.#presence, this.#log));
  }

  #session(full: string): NodeSession {
    const s = this.sessions.get(full);
    if (!s) throw new Error(`no session ${full}`);
    return s;
  }

  #ref(full: string): cluster.SessionRef {
    return { sessionId: full, fullJid: full, nodeId: this.sessions.get(full)?.node ?? 'gone', incarnation: 'i' };
  }

  async #run(user: string, task: () => Promise<void>): Promise<void> {
    void this.#queue.run(user, task);
    // Restored probes' reads queue their answers when they end: wait for both until neither is left.
    for (;;) {
      await this.#queue.drain();
      if (this.#reads.size === 0) break;
      await Promise.all([...this.#reads]);
    }
    if (this.#errors.length > 0) throw this.#errors[0];
  }
}
