import { cluster } from '@vigil/proto';
import { bareOf, isBlocked, isSubscribedTo, isSubscriber, findItem } from '@vigil/roster';
import { el, errorReply, iqResult, parseStanza, parseJidOrError, JidError, NS, StanzaError, type Element } from '@vigil/xmpp';
import type { AuthorityContext } from './context.js';
import type { PresenceCore } from './presence.js';
import type { RosterEditor } from './roster-editor.js';
import { blockPush, itemElement, NS_BLOCKING, NS_LAST, ownRosterResultXml } from './roster-xml.js';
import type { UserEntry } from './user-records.js';
import { localpartOf } from './stanza-text.js';

/**
 * Iqs the server answers for users of owned shards: the user's own roster
 * (RFC 6121 §2) and block list (XEP-0191), and last activity (XEP-0012)
 * asked by someone else. Runs inside the queue of the user the iq is about.
 */
export class IqCore {
  constructor(
    private readonly ctx: AuthorityContext,
    private readonly presence: PresenceCore,
    private readonly rosters: RosterEditor,
  ) {}

  /** Answers an iq given as XML, or already parsed (`iq`, as `iqOf` returns it). */
  async handle(req: Pick<cluster.IqRequest, 'session' | 'stanzaXml'>, parsed?: Element): Promise<cluster.IqResponse> {
    const iq = parsed ?? parseStanza(req.stanzaXml);
    const requester = req.session?.fullJid ?? '';
    try {
      const payload = iq.getChildElements()[0];
      if (payload === undefined) throw new StanzaError('bad-request', 'modify');
      const to = iq.attr('to');
      const about = to === undefined ? bareOf(requester) : bareOf(to);
      if (about === bareOf(requester)) {
        if (payload.ns === NS.roster) return iqResponse({ stanzaXml: (await this.rosters.handleIq(iq, payload, about)).toString() });
        if (payload.ns === NS_BLOCKING) return await this.#blocking(iq, payload, about);
      } else if (payload.ns === NS_LAST && iq.attr('type') === 'get') {
        return reply(await this.#lastActivity(iq, about, bareOf(requester)));
      }
      throw new StanzaError('service-unavailable', 'cancel');
    } catch (e) {
      if (!(e instanceof StanzaError)) throw e;
      return reply(errorReply(iq, e, this.ctx.config.domain));
    }
  }

  /** The block list a node loads when a session binds (typed BlockListGet): no stanza, only the list. */
  async blockList(user: string): Promise<cluster.IqResponse> {
    return this.blockListOf(await this.ctx.records.entry(localpartOf(user)));
  }

  /** blockList() from the user's roster entry in hand. */
  blockListOf(user: UserEntry): cluster.IqResponse {
    return iqResponse({ blockList: [...user.record.blocked], isBlockList: true });
  }

  /**
   * The user's own typed roster get (RFC 6121 §2.1.3), sent from `fullJid`,
   * from the user's roster entry in hand: the same answer handle() gives for
   * typedIq() of it, built as text (ownRosterResultXml).
   */
  ownRosterGet(g: cluster.RosterGet, fullJid: string | undefined, user: UserEntry): cluster.IqResponse {
    return iqResponse({ stanzaXml: ownRosterResultXml(g, fullJid, user.record.roster) });
  }

  async #blocking(iq: Element, payload: Element, user: string): Promise<cluster.IqResponse> {
    const type = iq.attr('type');
    const local = localpartOf(user);
    if (type === 'get' && payload.name === 'blocklist') {
      const rec = await this.ctx.records.get(local);
      const list = el('blocklist', { xmlns: NS_BLOCKING }, ...rec.blocked.map((jid) => el('item', { jid })));
      return iqResponse({ stanzaXml: iqResult(iq, list).toString(), blockList: [...rec.blocked], isBlockList: true });
    }
    if (type !== 'set' || (payload.name !== 'block' && payload.name !== 'unblock')) throw new StanzaError('bad-request', 'modify');
    const jids = payload.getChildren('item').map((i) => {
      const j = parseJidOrError(i.attr('jid') ?? '');
      if (j instanceof JidError) throw new StanzaError('jid-malformed', 'modify', `item 'jid' is not a valid JID: ${j.message}`);
      return j.toString();
    });
    // XEP-0191 §3.3: a block without items is a bad request; §3.4: an unblock without items unblocks all.
    if (payload.name === 'block' && jids.length === 0) throw new StanzaError('bad-request', 'modify', 'block at least one JID');
    let changed: string[] = [];
    const rec = await this.ctx.records.update(local, (r) => {
      const current = new Set(r.blocked);
      if (payload.name === 'block') {
        changed = jids.filter((j) => !current.has(j));
        return changed.length === 0 ? undefined : { ...r, blocked: [...r.blocked, ...changed] };
      }
      changed = jids.length === 0 ? [...r.blocked] : jids.filter((j) => current.has(j));
      return changed.length === 0 ? undefined : { ...r, blocked: r.blocked.filter((j) => !changed.includes(j)) };
    });
    // XEP-0191 §3.3/§3.4: push only what changed; an empty <unblock/> would mean "unblock all".
    if (changed.length > 0) {
      this.ctx.outbox.push(user, blockPush(payload.name, payload.name === 'unblock' && jids.length === 0 ? [] : changed), cluster.DeliveryKind.DELIVERY_KIND_BLOCK_PUSH, rec.blocked);
    }
    for (const jid of changed) {
      const item = findItem(rec.roster, bareOf(jid));
      if (payload.name === 'block') {
        // XEP-0191 §3.3: the blocked entity sees the user go offline, and the user stops seeing it.
        if (isSubscriber(item) || this.presence.directedTargets(user).has(jid)) await this.presence.sendUnavailable(user, jid, true);
        if (isSubscribedTo(item)) {
          for (const s of this.ctx.registry.sessionsOf(user)) {
            if (s.available) this.ctx.outbox.deliver(s.fullJid, `<presence from='${bareOf(jid)}' type='unavailable'/>`, '');
          }
        }
      } else {
        // §3.4: after unblocking, presence flows again as the subscriptions say.
        if (isSubscriber(item)) await this.presence.sendCurrentPresence(user, bareOf(jid));
        if (isSubscribedTo(item)) {
          for (const s of this.ctx.registry.sessionsOf(user)) {
            if (s.available) this.ctx.outbox.probe({ fromFullJid: s.fullJid, toBareJid: bareOf(jid), fromShard: s.shard, fromEpoch: 0, restored: false });
          }
        }
      }
    }
    return iqResponse({ stanzaXml: iqResult(iq).toString(), blockList: [...rec.blocked] });
  }

  /** XEP-0012 §5: only someone allowed to see the user's presence learns when it was last seen. */
  async #lastActivity(iq: Element, user: string, requester: string): Promise<Element> {
    const rec = await this.ctx.records.get(localpartOf(user));
    // The same answer for a stranger and for an account that does not exist.
    if (!isSubscriber(findItem(rec.roster, requester)) || isBlocked(new Set(rec.blocked), requester)) throw new StanzaError('forbidden', 'auth');
    if (this.presence.hasAvailable(user)) return iqResult(iq, el('query', { xmlns: NS_LAST, seconds: '0' }));
    const seen = await this.presence.lastSeen(user);
    if (seen === undefined) throw new StanzaError('item-not-found', 'cancel');
    const seconds = Math.max(0, Math.floor((this.ctx.wallNowMs() - seen.unixMs) / 1000));
    return iqResult(iq, el('query', { xmlns: NS_LAST, seconds: String(seconds) }, seen.status === '' ? undefined : seen.status));
  }
}

/**
 * The iq a typed roster get stands for, as the node received it from the
 * client and stamped it, so the answer is built exactly as for the XML form;
 * undefined for an XML request (the caller parses `stanzaXml`).
 */
export function typedIq(req: cluster.IqRequest): Element | undefined {
  if (req.typed?.$case !== 'rosterGet') return undefined;
  const g = req.typed.rosterGet;
  const query = el('query', { xmlns: NS.roster, ver: g.hasVer ? g.ver : undefined });
  return el('iq', { type: 'get', id: g.iqId, from: req.session?.fullJid, to: g.to === '' ? undefined : g.to }, query);
}

function reply(stanza: Element): cluster.IqResponse {
  return iqResponse({ stanzaXml: stanza.toString() });
}

/**
 * An answer to an iq request with the fields not given at their defaults
 * (ts-proto makes every field required): a field added to IqResponse is
 * named only where it is set.
 */
export function iqResponse(fields: Partial<cluster.IqResponse>): cluster.IqResponse {
  return { stanzaXml: '', blockList: [], isBlockList: false, accountGone: false, ...fields };
}

export { itemElement };
