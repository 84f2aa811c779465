import { randomBytes } from 'node:crypto';
import {
  el, errorReply, iqResult, jid, tryParseJid, NS, StanzaError, JidError,
  type Element, type Jid, type StreamErrorCondition,
} from '@vigil/xmpp';
import { cluster } from '@vigil/proto';
import type { Logger } from '@vigil/telemetry';
import type { NodeConfig } from './config.js';
import type { ClusterLink } from './cluster-link.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';
import { rosterResult } from './roster-xml.js';

export interface SessionHandlerDeps {
  readonly config: NodeConfig;
  readonly link: ClusterLink;
  readonly log: Logger;
  readonly send: (xml: string) => void;
  readonly kick: (condition: StreamErrorCondition, text: string) => void;
}

const PRESENCE_TYPES = new Set(['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error']);

/** RFC 6120 §7.7: a resource of the server's choosing when the client asks for none. */
function generatedResource(): string {
  return `vigil-${randomBytes(6).toString('hex')}`;
}

/**
 * A bound session: stamps and routes the client's stanzas (RFC 6120 §8.1.2.1,
 * RFC 6121 §4), and ends by telling the shard owner why.
 */
export class SessionHandler {
  #ended = false;

  private constructor(
    readonly session: LocalSession,
    readonly jid: Jid,
    private readonly deps: SessionHandlerDeps,
  ) {}

  /** RFC 6120 §7: binds a resource, or replies with an error and returns undefined. */
  static bind(iq: Element, bind: Element, username: string, deps: SessionHandlerDeps): SessionHandler | undefined {
    const requested = bind.getChildText('resource')?.trim() ?? '';
    let full: Jid;
    try {
      full = jid(username, deps.config.domain, requested === '' ? generatedResource() : requested);
    } catch (e) {
      if (!(e instanceof JidError)) throw e;
      deps.send(errorReply(iq, new StanzaError('bad-request', 'modify', e.message)).toString());
      return undefined;
    }
    const fullJid = full.toString();
    const { link } = deps;
    // Conflict policy (docs/decisions.md): the newer session wins; the older one is told <conflict/>.
    link.sessions.get(fullJid)?.kick('conflict', 'replaced by a new session with the same resource');
    const session: LocalSession = {
      id: LocalSessions.newId(),
      fullJid,
      bareJid: full.bare().toString(),
      shard: link.shardOf(full.bare().toString()),
      available: false,
      presenceXml: '',
      priority: 0,
      announced: false,
      send: deps.send,
      kick: (condition, text) => deps.kick(condition, text),
    };
    link.sessions.add(session);
    const handler = new SessionHandler(session, full, { ...deps, log: deps.log.child({ user: fullJid, session: session.id }) });
    deps.send(iqResult(iq, el('bind', { xmlns: NS.bind }, el('jid', {}, fullJid))).toString());
    handler.deps.log.info('session bound');
    return handler;
  }

  /** The stream is over; the shard owner announces unavailable if the session was announced. */
  end(cause: cluster.EndCause, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const { link } = this.deps;
    if (this.session.announced) link.publishEvent(this.session, { $case: 'ended', ended: { cause } });
    link.sessions.remove(this.session);
    this.deps.log.info('session closed', { reason });
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
      if (e instanceof StanzaError) return this.#reply(errorReply(this.#stamped(stanza), e, this.deps.config.domain));
      throw e;
    }
  }

  #stamped(stanza: Element): Element {
    // RFC 6120 §8.1.2.1: the server stamps 'from' with the full JID; never trust the client's.
    stanza.attrs.from = this.session.fullJid;
    return stanza;
  }

  #reply(stanza: Element): void {
    this.deps.send(stanza.toString());
  }

  #presence(stanza: Element): void {
    const type = stanza.attr('type');
    if (type !== undefined && !PRESENCE_TYPES.has(type)) throw new StanzaError('bad-request', 'modify', `unknown presence type '${type}'`);
    const toAttr = stanza.attr('to');
    this.#stamped(stanza);
    if (toAttr === undefined) return this.#broadcast(stanza, type);
    const to = this.#parseTo(toAttr);
    if (type === undefined || type === 'unavailable') {
      delete stanza.attrs.to;
      this.deps.link.publishEvent(this.session, {
        $case: 'directed',
        directed: { toJid: to.toString(), stanzaXml: stanza.toString(), available: type === undefined },
      });
      return;
    }
    if (type === 'error' || type === 'probe') return; // RFC 6121 §4.3: clients do not probe; errors are tracked later
    // Subscription management (RFC 6121 §3) is the next piece of work.
    throw new StanzaError('feature-not-implemented', 'cancel', 'subscription requests are not supported yet');
  }

  /** RFC 6121 §4.2, §4.4, §4.5: presence without 'to' goes to the shard owner for broadcast. */
  #broadcast(stanza: Element, type: string | undefined): void {
    if (type !== undefined && type !== 'unavailable') throw new StanzaError('bad-request', 'modify', `presence of type '${type}' needs a 'to'`);
    const available = type === undefined;
    const priority = available ? parsePriority(stanza.getChildText('priority')) : 0;
    const xml = stanza.toString();
    this.session.available = available;
    this.session.presenceXml = available ? xml : '';
    this.session.priority = priority;
    this.deps.link.publishEvent(this.session, { $case: 'presence', presence: { stanzaXml: xml, available, priority } });
  }

  async #iq(stanza: Element): Promise<void> {
    const type = stanza.attr('type');
    const id = stanza.attr('id');
    if (id === undefined || !['get', 'set', 'result', 'error'].includes(type ?? '')) {
      throw new StanzaError('bad-request', 'modify', "an iq needs an 'id' and a type of get, set, result or error");
    }
    const toAttr = stanza.attr('to');
    const to = toAttr === undefined ? undefined : this.#parseTo(toAttr);
    const forServer = to === undefined || to.toString() === this.deps.config.domain || to.toString() === this.session.bareJid;
    if (!forServer) return this.#route(stanza, to);
    if (type === 'result' || type === 'error') return;
    const payload = stanza.getChildElements();
    if (payload.length !== 1 || payload[0] === undefined) throw new StanzaError('bad-request', 'modify', 'an iq get or set carries exactly one payload element');
    const child = payload[0];
    this.#stamped(stanza);
    if (child.ns === NS.roster && child.name === 'query') {
      if (type !== 'get') throw new StanzaError('feature-not-implemented', 'cancel', 'roster changes are not supported yet');
      const answer = await this.deps.link.rosterGet(this.session.bareJid).catch((e: unknown) => {
        this.deps.log.warn('roster request failed', { err: e });
        throw new StanzaError('internal-server-error', 'wait', 'roster temporarily unavailable');
      });
      if (answer.errorCondition !== '') throw new StanzaError('internal-server-error', 'wait', answer.errorCondition);
      return this.#reply(rosterResult(stanza, answer.items, answer.version));
    }
    if (child.ns === NS.ping && child.name === 'ping' && type === 'get') return this.#reply(iqResult(stanza));
    if (child.ns === NS.session && child.name === 'session') return this.#reply(iqResult(stanza));
    if (child.ns === NS.disco_info && child.name === 'query' && type === 'get' && to?.toString() !== this.session.bareJid) {
      return this.#reply(iqResult(stanza, discoInfo(child.attr('node'))));
    }
    throw new StanzaError('service-unavailable', 'cancel');
  }

  #message(stanza: Element): void {
    const toAttr = stanza.attr('to');
    if (toAttr === undefined) return; // RFC 6120 §10.3.1 would treat it as to the user's bare JID; nothing to deliver it to yet
    this.#route(stanza, this.#parseTo(toAttr));
  }

  /** Messages and iqs to another entity of this domain travel on the recipient's delivery subject. */
  #route(stanza: Element, to: Jid | undefined): void {
    if (to === undefined) return;
    if (to.domain !== this.deps.config.domain) {
      if (stanza.attr('type') === 'error') return;
      throw new StanzaError('remote-server-not-found', 'cancel', 'this server does not federate');
    }
    this.#stamped(stanza);
    stanza.attrs.to = to.toString();
    this.deps.link.publishDelivery(to.toString(), to.bare().toString(), stanza.toString());
  }

  #parseTo(value: string): Jid {
    const to = tryParseJid(value);
    if (to === undefined) throw new StanzaError('jid-malformed', 'modify', `'to' is not a valid JID`);
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

function discoInfo(node: string | undefined): Element {
  return el(
    'query',
    { xmlns: NS.disco_info, node },
    el('identity', { category: 'server', type: 'im', name: 'Vigil' }),
    el('feature', { var: NS.disco_info }),
    el('feature', { var: NS.ping }),
  );
}
