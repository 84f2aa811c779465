import {
  el, errorReply, iqResult, pooledRandomBytes, jid, parseJidOrError, NS, StanzaError, JidError,
  type Element, type Jid, type StreamErrorCondition,
} from '@vigil/xmpp';
import { cluster } from '@vigil/proto';
import type { LogFields, Logger } from '@vigil/telemetry';
import type { AccountStore } from '@vigil/store';
import type { NodeConfig } from './config.js';
import type { ClusterLink } from './cluster-link.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';
import { AccountGoneError, IqHandler } from './iq-handler.js';

export interface SessionHandlerDeps {
  readonly config: NodeConfig;
  readonly accounts: AccountStore;
  readonly link: ClusterLink;
  readonly log: Logger;
  readonly send: (xml: string) => void;
  readonly kick: (condition: StreamErrorCondition, text: string) => void;
}

/** A session as a resumption brings it back (XEP-0198). */
export interface SavedSession {
  readonly jid: Jid;
  readonly fullJid: string;
  readonly available: boolean;
  readonly presenceXml: string;
  readonly priority: number;
  readonly rosterInterested: boolean;
  readonly blocklistInterested: boolean;
}

const PRESENCE_TYPES = new Set(['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error']);

/** RFC 6120 §7.7: a resource of the server's choosing when the client asks for none. */
function generatedResource(): string {
  return `vigil-${pooledRandomBytes(6).toString('hex')}`;
}

/**
 * A bound session: stamps and routes the client's stanzas (RFC 6120 §8.1.2.1,
 * RFC 6121 §4), and ends by telling the shard owner why.
 */
export class SessionHandler {
  #ended = false;
  readonly iqs: IqHandler;
  readonly #log: Logger;

  private constructor(
    readonly session: LocalSession,
    readonly jid: Jid,
    private readonly deps: SessionHandlerDeps,
  ) {
    this.#log = deps.log.child({ user: session.fullJid, session: session.id });
    this.iqs = new IqHandler(session, deps.config, deps.link, this.#log, deps.accounts);
  }

  /** RFC 6120 §7: binds a resource, or replies with an error and returns undefined. */
  /** `logFields`: what the stream knows of the login (the SASL mechanism), for the one line a login logs. */
  static async bind(iq: Element, bind: Element, username: string, deps: SessionHandlerDeps, logFields?: LogFields): Promise<SessionHandler | undefined> {
    const requested = bind.getChildText('resource')?.trim() ?? '';
    let full: Jid;
    try {
      full = jid(username, deps.config.domain, requested === '' ? generatedResource() : requested);
    } catch (e) {
      if (!(e instanceof JidError)) throw e;
      deps.send(errorReply(iq, new StanzaError('bad-request', 'modify', e.message)).toString());
      return undefined;
    }
    // Conflict policy (docs/decisions.md): the newer session wins; the older one is told <conflict/>.
    const older = deps.link.sessions.get(full.toString());
    older?.kick('conflict', 'replaced by a new session with the same resource');
    // An older one still binding (waiting for the owner) stays in the table after its stream closed, until its bind
    // completes and ends it: this one takes its place now (never announced, so nothing else to tell).
    if (older !== undefined && deps.link.sessions.get(full.toString()) === older) deps.link.sessions.remove(older);
    const handler = await SessionHandler.#open(full, deps);
    if (handler === undefined) {
      deps.send(errorReply(iq, new StanzaError('internal-server-error', 'wait', 'try again shortly')).toString());
      return undefined;
    }
    deps.send(iqResult(iq, el('bind', { xmlns: NS.bind }, el('jid', {}, full.toString()))).toString());
    handler.#log.info('session bound', logFields);
    return handler;
  }

  /**
   * XEP-0198 resumption after the presence grace ended the session: the same
   * full JID is bound again and its last presence announced again, so
   * contacts see it come back and the owner's probes bring the client up to
   * date: the current presence of contacts who are available, the last
   * unavailable of those who are not (the client still shows what it saw
   * before). Undefined when the resource was taken meanwhile or the block list
   * cannot be read.
   */
  static async restore(saved: SavedSession, deps: SessionHandlerDeps): Promise<SessionHandler | undefined> {
    if (deps.link.sessions.get(saved.fullJid) !== undefined) return undefined;
    const handler = await SessionHandler.#open(saved.jid, deps);
    if (handler === undefined) return undefined;
    handler.session.rosterInterested = saved.rosterInterested;
    handler.session.blocklistInterested = saved.blocklistInterested;
    // Marked restored: the client kept its presence view, so the owner asks its contacts for unavailable answers too.
    if (saved.available) handler.#announce(saved.presenceXml, true, saved.priority, true);
    handler.#log.info('session restored by resumption', { reannounced: saved.available });
    return handler;
  }

  static async #open(full: Jid, deps: SessionHandlerDeps): Promise<SessionHandler | undefined> {
    const fullJid = full.toString();
    const { link } = deps;
    const session: LocalSession = {
      id: LocalSessions.newId(),
      fullJid,
      bareJid: full.bare().toString(),
      shard: link.shardOf(full.bare().toString()),
      available: false,
      presenceXml: '',
      priority: 0,
      announced: false,
      presenceSeq: 0,
      rosterInterested: false,
      blocklistInterested: false,
      send: deps.send,
      kick: deps.kick,
    };
    link.sessions.add(session);
    const handler = new SessionHandler(session, full, deps);
    try {
      await handler.iqs.loadBlockList();
      if (link.sessions.get(fullJid) !== session) {
        // A newer bind of the same resource took this one's place while it waited (bind()): it must not be announced
        // (its presence would reach the owner without its end ever following), and nothing holds it.
        handler.end(cluster.EndCause.END_CAUSE_KICKED, 'replaced while it waited for the owner');
        return undefined;
      }
    } catch (e) {
      link.sessions.remove(session);
      if (e instanceof AccountGoneError) {
        // RFC 6120 §4.9.3.12: the entity is no longer authorized; the stream ends (a bind error would invite retries).
        deps.log.info('session not opened: the account was deleted', { user: fullJid });
        deps.kick('not-authorized', 'the account was deleted');
        return undefined;
      }
      deps.log.warn('session not opened: block list unavailable', { err: e, user: fullJid });
      return undefined;
    }
    return handler;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** What a resumption needs to bring this session back after it ended. */
  snapshot(): SavedSession {
    const s = this.session;
    return {
      jid: this.jid, fullJid: s.fullJid, available: s.available, presenceXml: s.presenceXml, priority: s.priority,
      rosterInterested: s.rosterInterested, blocklistInterested: s.blocklistInterested,
    };
  }

  /** The stream is over; the shard owner announces unavailable if the session was announced. */
  end(cause: cluster.EndCause, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const { link } = this.deps;
    if (this.session.announced) link.publishEvent(this.session, { $case: 'ended', ended: { cause } });
    link.sessions.remove(this.session);
    this.#log.info('session closed', { reason });
  }

  async handle(stanza: Element): Promise<void> {
    if (stanza.ns !== NS.client) return this.deps.kick('unsupported-stanza-type', `<${stanza.name}/> in ${stanza.ns || 'no namespace'}`);
    try {
      switch (stanza.name) {
        case 'presence':
          return this.#presence(stanza);
        case 'iq':
          return await this.#iq(stanza);
        case 'message':
          return this.#message(stanza);
        default:
          return this.deps.kick('unsupported-stanza-type', `<${stanza.name}/> is not a stanza`);
      }
    } catch (e) {
      if (!(e instanceof StanzaError)) throw e;
      // RFC 6120 §8.3.1: never answer an error with an error.
      if (stanza.attr('type') === 'error') return;
      return this.#reply(errorReply(this.#stamped(stanza), e, this.deps.config.domain));
    }
  }

  #stamped(stanza: Element): Element {
    // RFC 6120 §8.1.2.1: the server stamps 'from' with the full JID; never trust the client's.
    stanza.attrs.from = this.session.fullJid;
    return stanza;
  }

  #reply(stanza: Element | string): void {
    this.deps.send(typeof stanza === 'string' ? stanza : stanza.toString());
  }

  #presence(stanza: Element): void {
    const type = stanza.attr('type');
    if (type !== undefined && !PRESENCE_TYPES.has(type)) throw new StanzaError('bad-request', 'modify', `unknown presence type '${type}'`);
    const toAttr = stanza.attr('to');
    this.#stamped(stanza);
    if (toAttr === undefined) return this.#broadcast(stanza, type);
    const to = this.#parseTo(toAttr);
    if (to.domain !== this.deps.config.domain) {
      if (type === 'error') return;
      throw new StanzaError('remote-server-not-found', 'cancel', 'this server does not federate');
    }
    delete stanza.attrs.to;
    // XEP-0191: no presence of any kind goes to an entity the user blocked.
    if (this.deps.link.sessions.hasBlocked(this.session.bareJid, to.bare().toString()) && type !== 'error') return;
    switch (type) {
      case undefined:
      case 'unavailable':
        // RFC 6121 §4.6: directed presence; the owner remembers it for the session's end.
        this.deps.link.publishEvent(this.session, {
          $case: 'directed',
          directed: { toJid: to.toString(), stanzaXml: stanza.toString(), available: type === undefined },
        });
        return;
      case 'subscribe':
      case 'subscribed':
      case 'unsubscribe':
      case 'unsubscribed': {
        // RFC 6121 §3.1.2: subscription stanzas carry the user's bare JID, to the contact's bare JID.
        stanza.attrs.from = this.session.bareJid;
        const contact = to.bare().toString();
        if (contact === this.session.bareJid) throw new StanzaError('bad-request', 'modify', 'a subscription to yourself is implicit');
        this.deps.link.publishEvent(this.session, {
          $case: 'subscription',
          subscription: { toBareJid: contact, type, stanzaXml: stanza.toString() },
        });
        return;
      }
      case 'error': {
        // RFC 6121 §4.4.2: the recipient's owner stops broadcasting to us for that session.
        const recipient = to.toString();
        this.deps.link.publishInbound(to.bare().toString(), {
          fromJid: this.session.bareJid, toJid: recipient, kind: cluster.InboundKind.INBOUND_KIND_PRESENCE_ERROR,
          type: 'error', stanzaXml: '', fromShard: this.session.shard, fromEpoch: 0,
        });
        stanza.attrs.to = recipient;
        this.deps.link.publishDelivery(recipient, to.bare().toString(), this.session.bareJid, cluster.DeliveryKind.DELIVERY_KIND_PRESENCE, stanza.toString());
        return;
      }
      default:
        return; // 'probe': RFC 6121 §4.3 probes are server-generated; a client's is ignored
    }
  }

  /** RFC 6121 §4.2, §4.4, §4.5: presence without 'to' goes to the shard owner for broadcast. */
  #broadcast(stanza: Element, type: string | undefined): void {
    if (type !== undefined && type !== 'unavailable') throw new StanzaError('bad-request', 'modify', `presence of type '${type}' needs a 'to'`);
    const available = type === undefined;
    this.#announce(stanza.toString(), available, available ? parsePriority(stanza.getChildText('priority')) : 0);
  }

  /** `restored`: the re-announcement of a session a resumption brought back (BroadcastPresence.restored). */
  #announce(xml: string, available: boolean, priority: number, restored = false): void {
    this.session.available = available;
    this.session.presenceXml = available ? xml : '';
    this.session.priority = priority;
    const seq = this.deps.link.sessions.nextPresence(this.session);
    this.deps.link.publishEvent(this.session, { $case: 'presence', presence: { stanzaXml: xml, available, priority, seq, restored } });
  }

  async #iq(stanza: Element): Promise<void> {
    const type = stanza.attr('type');
    if (stanza.attr('id') === undefined || !['get', 'set', 'result', 'error'].includes(type ?? '')) {
      throw new StanzaError('bad-request', 'modify', "an iq needs an 'id' and a type of get, set, result or error");
    }
    const toAttr = stanza.attr('to');
    const to = toAttr === undefined ? undefined : this.#parseTo(toAttr);
    if (to !== undefined && to.resource !== '') return this.#route(stanza, to, cluster.DeliveryKind.DELIVERY_KIND_IQ);
    if (type === 'result' || type === 'error') return;
    const payload = stanza.getChildElements();
    if (payload.length !== 1 || payload[0] === undefined) throw new StanzaError('bad-request', 'modify', 'an iq get or set carries exactly one payload element');
    this.#stamped(stanza);
    const reply = await this.iqs.handle(stanza, payload[0], to);
    if (reply !== undefined) this.#reply(reply);
  }

  #message(stanza: Element): void {
    const toAttr = stanza.attr('to');
    // RFC 6120 §10.3.1: no 'to' means the user's own bare JID.
    const to = toAttr === undefined ? this.jid.bare() : this.#parseTo(toAttr);
    this.#route(stanza, to, cluster.DeliveryKind.DELIVERY_KIND_MESSAGE);
  }

  /** Messages and iqs to another entity of this domain travel on the recipient's delivery subject. */
  #route(stanza: Element, to: Jid, kind: cluster.DeliveryKind): void {
    if (to.domain !== this.deps.config.domain || to.local === '') {
      if (stanza.attr('type') === 'error') return;
      if (to.local === '' && to.domain === this.deps.config.domain) throw new StanzaError('service-unavailable', 'cancel');
      throw new StanzaError('remote-server-not-found', 'cancel', 'this server does not federate');
    }
    if (this.deps.link.sessions.hasBlocked(this.session.bareJid, to.bare().toString())) {
      // XEP-0191 §3.6: the user's own block stops outbound stanzas too, with an error that says why.
      if (stanza.attr('type') === 'error' || stanza.attr('type') === 'result') return;
      throw new StanzaError('not-acceptable', 'cancel', 'you have blocked this contact', el('blocked', { xmlns: 'urn:xmpp:blocking:errors' }));
    }
    this.#stamped(stanza);
    stanza.attrs.to = to.toString();
    const type = stanza.attr('type');
    const answered = type === 'error' || (kind === cluster.DeliveryKind.DELIVERY_KIND_IQ && type === 'result');
    if (answered) return this.deps.link.publishDelivery(to.toString(), to.bare().toString(), this.session.bareJid, kind, stanza.toString());
    // The verdict arrives later; the next stanza need not wait for it.
    void this.#deliverOrBounce(stanza, to, kind).catch((e: unknown) => {
      this.#log.warn('no delivery verdict; the stanza may or may not have arrived', { err: e, to: to.toString() });
    });
  }

  /**
   * RFC 6121 §8.5: a message to a full JID nobody holds falls back to the
   * bare JID (chat, normal, headline); a message no available resource
   * took is answered service-unavailable (no offline storage), except a
   * headline, which is dropped; an iq for a resource that is not there is
   * answered service-unavailable.
   */
  async #deliverOrBounce(stanza: Element, to: Jid, kind: cluster.DeliveryKind): Promise<void> {
    const { link } = this.deps;
    const bare = to.bare().toString();
    const xml = stanza.toString();
    if (await link.deliverWithVerdict(to.toString(), bare, this.session.bareJid, kind, xml)) return;
    const type = stanza.attr('type') ?? 'normal';
    if (kind === cluster.DeliveryKind.DELIVERY_KIND_MESSAGE && to.resource !== '' && type !== 'groupchat') {
      if (await link.deliverWithVerdict(bare, bare, this.session.bareJid, kind, xml)) return;
    }
    if (kind === cluster.DeliveryKind.DELIVERY_KIND_MESSAGE && type === 'headline') {
      this.#log.debug('headline dropped: no available resource', { to: to.toString() });
      return;
    }
    this.#log.debug('stanza bounced: recipient not available', { to: to.toString(), kind });
    this.#reply(errorReply(stanza, new StanzaError('service-unavailable', 'cancel')));
  }

  #parseTo(value: string): Jid {
    const to = parseJidOrError(value);
    if (to instanceof JidError) throw new StanzaError('jid-malformed', 'modify', `'to' is not a valid JID: ${to.message}`);
    return to;
  }
}

/** RFC 6121 §4.7.2.3: an integer from -128 to +127; absent means 0. */
function parsePriority(text: string | undefined): number {
  if (text === undefined) return 0;
  const t = text.trim();
  const n = Number(t);
  if (!/^[+-]?\d+$/.test(t) || n < -128 || n > 127) throw new StanzaError('bad-request', 'modify', 'priority must be an integer from -128 to 127');
  return n;
}
