import { cluster } from '@vigil/proto';
import { applyEdit, planRosterSet, removalStanzas, type RosterSetItem } from '@vigil/roster';
import { el, escapeAttr, iqResult, NS, StanzaError, type Element } from '@vigil/xmpp';
import type { AuthorityContext } from './context.js';
import type { PresenceCore } from './presence.js';
import { itemElement, rosterPush } from './roster-xml.js';
import { localpartOf } from './stanza-text.js';
import { stateOf, type SubscriptionCore } from './subscriptions.js';

/** RFC 6121 §2: roster get (with versioning, §2.6) and set, for the user's own roster. */
export class RosterEditor {
  constructor(
    private readonly ctx: AuthorityContext,
    private readonly presence: PresenceCore,
    private readonly subscriptions: SubscriptionCore,
  ) {}

  async handleIq(iq: Element, query: Element, user: string): Promise<Element> {
    const type = iq.attr('type');
    if (query.name !== 'query') throw new StanzaError('bad-request', 'modify');
    if (type === 'get') return this.#get(iq, query, user);
    if (type === 'set') return this.#set(iq, query, user);
    throw new StanzaError('bad-request', 'modify');
  }

  async #get(iq: Element, query: Element, user: string): Promise<Element> {
    const { roster } = await this.ctx.records.get(localpartOf(user));
    const ver = String(roster.version);
    // §2.6.3: the client's copy is current: an empty result, changes arrive as pushes.
    if (query.attr('ver') === ver) return iqResult(iq);
    return iqResult(iq, el('query', { xmlns: NS.roster, ver }, ...roster.items.map(itemElement)));
  }

  async #set(iq: Element, query: Element, user: string): Promise<Element> {
    const items: RosterSetItem[] = query.getChildElements().map((i) => ({
      jid: i.name === 'item' ? i.attr('jid') ?? '' : '',
      name: i.attr('name'),
      subscription: i.attr('subscription'),
      ask: i.attr('ask'),
      groups: i.getChildren('group').map((g) => g.getText()),
    }));
    const local = localpartOf(user);
    const current = await this.ctx.records.get(local);
    const plan = planRosterSet(user, current.roster, items, { maxItems: this.ctx.config.maxRosterItems, senderJid: iq.attr('from') });
    if (!plan.ok) throw new StanzaError(plan.error.condition, undefined, plan.error.text);
    const edit = plan.edit;
    if (edit.kind === 'upsert') {
      const rec = await this.ctx.records.update(local, (r) => {
        // Re-plan against what is stored now, so a concurrent subscription change is not overwritten.
        const again = planRosterSet(user, r.roster, items, { maxItems: this.ctx.config.maxRosterItems });
        return again.ok ? { ...r, roster: applyEdit(r.roster, again.edit) } : undefined;
      });
      this.subscriptions.pushItem(user, rec, edit.item.jid);
      return iqResult(iq);
    }
    // §2.5.2: removal cancels the subscriptions both ways, then the item goes.
    const before = stateOf(current, edit.jid);
    const rec = await this.ctx.records.update(local, (r) => ({
      ...r,
      roster: applyEdit(r.roster, edit),
      pendingIn: r.pendingIn.filter((p) => p.fromBareJid !== edit.jid),
    }));
    this.ctx.outbox.push(user, rosterPush({ jid: edit.jid, removed: true }, rec.roster.version), cluster.DeliveryKind.DELIVERY_KIND_ROSTER_PUSH);
    const wasSubscriber = before.subscription === 'from' || before.subscription === 'both';
    for (const type of removalStanzas(before)) {
      // §3.2.2: a subscriber sees the user go offline as its subscription ends; a mere requester learns nothing.
      if (type === 'unsubscribed' && wasSubscriber) await this.presence.sendUnavailable(user, edit.jid);
      this.subscriptions.route(user, edit.jid, type, `<presence from='${escapeAttr(user)}' type='${type}'/>`);
    }
    return iqResult(iq);
  }
}
