import { el, escapeAttr, iqResult, NS, StanzaError, type Element, type Jid } from '@vigil/xmpp';
import type { Logger } from '@vigil/telemetry';
import { admin, type cluster } from '@vigil/proto';
import type { NodeConfig } from './config.js';
import type { ClusterLink } from './cluster-link.js';
import type { LocalSession } from './local-sessions.js';
import type { AccountStore } from '@vigil/store';
import { handleRegistration, NS_REGISTER } from './registration.js';

export const NS_BLOCKING = 'urn:xmpp:blocking';
/** The owner refused a bind's block-list read: the account was deleted since the stream authenticated. */
export class AccountGoneError extends Error {
  constructor(readonly bareJid: string) {
    super(`the account ${bareJid} was deleted`);
    this.name = 'AccountGoneError';
  }
}

export const NS_LAST = 'jabber:iq:last';
export const NS_VERSION = 'jabber:iq:version';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

const STARTED_AT_MS = Date.now();

/** Features this server implements, for XEP-0030 (keep in step with what the code does). */
export const SERVER_FEATURES: readonly string[] = [
  NS.disco_info, NS_DISCO_ITEMS, NS.ping, NS.roster, NS_BLOCKING, NS_LAST, NS_VERSION,
  'urn:xmpp:features:rosterver', 'urn:xmpp:features:pre-approval',
];

/**
 * The iqs a client sends to the server (RFC 6120 §10.3.3, §10.5.3): answered
 * here when they need nothing but the node, forwarded to the owner of the
 * user's shard (roster, blocking) or of the queried user's shard (last
 * activity) otherwise.
 */
export class IqHandler {
  constructor(
    private readonly session: LocalSession,
    private readonly config: NodeConfig,
    private readonly link: ClusterLink,
    private readonly log: Logger,
    private readonly accounts: AccountStore,
  ) {}

  /** Fetches the user's block list so inbound stanzas from blocked entities are dropped from the start. */
  async loadBlockList(): Promise<void> {
    const xml = `<iq type='get' id='vigil-blocklist' from='${escapeAttr(this.session.fullJid)}'><blocklist xmlns='${NS_BLOCKING}'/></iq>`;
    const req = this.link.iqRequest(this.session, { $case: 'blockListGet', blockListGet: {} }, xml);
    // A shard in hand-over has no owner for a moment: a few quick retries ride it out (bounded, then the bind fails 'wait').
    let res;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await this.link.request(req, this.session.bareJid);
        break;
      } catch (e) {
        if (attempt >= 4) throw e;
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
    if (res.accountGone) throw new AccountGoneError(this.session.bareJid);
    if (!res.isBlockList) throw new Error(`block list not returned for ${this.session.bareJid}`);
    this.link.sessions.setBlockList(this.session.bareJid, res.blockList);
  }

  /**
   * XEP-0077 §3.2: the user cancels their registration. The owner deletes
   * the account as DeleteAccount does (every session ends, contacts are
   * told, the roster goes); this session gets the iq result and then a
   * <not-authorized/> stream error on the way (ClusterLink#endDeleted), so
   * a success writes nothing here. A refusal is this iq's error.
   */
  async #removeAccount(iq: Element): Promise<Element | undefined> {
    const res = await this.link.removeAccount(this.session, iqResult(iq).toString());
    const r = res.result;
    if (r?.$case === 'removeAccount') return undefined;
    if (r?.$case === 'error' && r.error.code === admin.AdminErrorCode.ADMIN_ERROR_CODE_UNAVAILABLE) {
      throw new StanzaError('internal-server-error', 'wait', 'the account could not be removed just now; try again');
    }
    this.log.warn('account removal refused by the owner', { user: this.session.bareJid, answer: r?.$case === 'error' ? r.error.message : r?.$case });
    throw new StanzaError('internal-server-error', 'cancel', 'the account could not be removed');
  }

  async handle(iq: Element, payload: Element, to: Jid | undefined): Promise<Element | string | undefined> {
    const type = iq.attr('type');
    const target = to?.toString();
    const toServer = target === undefined || target === this.config.domain;
    const toSelf = target === undefined || target === this.session.bareJid;
    if (toSelf && (payload.ns === NS.roster || payload.ns === NS_BLOCKING)) return this.#forward(iq, payload, this.session.bareJid);
    if (toServer && payload.ns === NS_REGISTER && this.config.allowRegistration) {
      if (type === 'set' && payload.getChild('remove') !== undefined) return this.#removeAccount(iq);
      return handleRegistration(iq, payload, this.accounts, this.config.domain, this.config.scramIterations, this.session.bareJid.split('@')[0]);
    }
    if (toServer) return this.#server(iq, payload, type);
    // XEP-0030 §3.1 for the user's own account: what it is, so clients probing their bare JID get an answer.
    if (target === this.session.bareJid && payload.ns === NS.disco_info && type === 'get') {
      return iqResult(iq, el('query', { xmlns: NS.disco_info }, el('identity', { category: 'account', type: 'registered' }), el('feature', { var: NS.disco_info })));
    }
    if (to !== undefined && to.domain === this.config.domain && to.local !== '' && !toSelf && payload.ns === NS_LAST) {
      return this.#forward(iq, payload, target ?? '');
    }
    // RFC 6121 §8.5.1 / §8.5.2: nothing else is answered on an account's behalf, and the error is the same whether the account exists or not.
    throw new StanzaError('service-unavailable', 'cancel');
  }

  #server(iq: Element, payload: Element, type: string | undefined): Element {
    const get = type === 'get';
    const features = this.config.allowRegistration ? [...SERVER_FEATURES, NS_REGISTER] : SERVER_FEATURES;
    if (payload.ns === NS.ping && payload.name === 'ping' && get) return iqResult(iq);
    if (payload.ns === NS.session && payload.name === 'session') return iqResult(iq);
    if (payload.ns === NS.disco_info && get) {
      return iqResult(
        iq,
        el('query', { xmlns: NS.disco_info, node: payload.attr('node') },
          el('identity', { category: 'server', type: 'im', name: 'Vigil' }),
          ...features.map((f) => el('feature', { var: f }))),
      );
    }
    if (payload.ns === NS_DISCO_ITEMS && get) return iqResult(iq, el('query', { xmlns: NS_DISCO_ITEMS, node: payload.attr('node') }));
    if (payload.ns === NS_VERSION && get) {
      return iqResult(iq, el('query', { xmlns: NS_VERSION }, el('name', {}, 'Vigil'), el('version', {}, '0.1.0')));
    }
    // XEP-0012 §4: last activity of a server is its uptime.
    if (payload.ns === NS_LAST && get) {
      return iqResult(iq, el('query', { xmlns: NS_LAST, seconds: String(Math.floor((Date.now() - STARTED_AT_MS) / 1000)) }));
    }
    throw new StanzaError('service-unavailable', 'cancel');
  }

  async #forward(iq: Element, payload: Element, aboutBareJid: string): Promise<string> {
    let res;
    try {
      const rosterGet = typedRosterGet(iq, payload);
      res = rosterGet === undefined
        ? await this.link.iq(this.session, aboutBareJid, iq.toString())
        : await this.link.request(this.link.iqRequest(this.session, { $case: 'rosterGet', rosterGet }, iq.toString()), aboutBareJid);
    } catch (e) {
      this.log.warn('iq forward failed', { ns: payload.ns, about: aboutBareJid, err: e });
      throw new StanzaError('internal-server-error', 'wait', 'try again shortly');
    }
    const ok = /^<iq [^>]*type='result'/.test(res.stanzaXml);
    if (ok && iq.attr('type') === 'get' && payload.ns === NS.roster) this.session.rosterInterested = true;
    if (res.isBlockList) {
      this.session.blocklistInterested = true;
      this.link.sessions.setBlockList(this.session.bareJid, res.blockList);
    }
    return res.stanzaXml;
  }
}

/**
 * A plain roster get (RFC 6121 §2.1.3) travels typed: the owner answers it
 * without parsing XML. Anything else (a set, extra attributes or children
 * the owner might have to judge) goes as the XML the client sent.
 */
function typedRosterGet(iq: Element, query: Element): cluster.RosterGet | undefined {
  if (query.ns !== NS.roster || query.name !== 'query' || iq.attr('type') !== 'get' || query.children.length !== 0) return undefined;
  const id = iq.attr('id');
  if (id === undefined) return undefined;
  const ver = query.attr('ver');
  return { iqId: id, to: iq.attr('to') ?? '', ver: ver ?? '', hasVer: ver !== undefined };
}
