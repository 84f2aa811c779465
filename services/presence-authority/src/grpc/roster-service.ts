import { api, type cluster } from '@vigil/proto';
import { JidError, parseJidOrError } from '@vigil/xmpp';
import { ApiError } from './errors.js';
import { unary, type HandlerContext } from './handlers.js';
import { accountJid, invalidJidText } from './jids.js';
import type { OwnerClient } from './owner-client.js';

export interface RosterServiceDeps extends HandlerContext {
  readonly owners: OwnerClient;
  readonly domain: string;
}

/** The stored item (internal enum numbering) as the public API shows it. */
function item(i: cluster.RosterItem): api.roster.RosterItem {
  const S = api.roster.Subscription;
  // cluster.Subscription and api.roster.Subscription share their numbering (NONE 1 … BOTH 4).
  const subscription = i.subscription >= S.SUBSCRIPTION_NONE && i.subscription <= S.SUBSCRIPTION_BOTH ? i.subscription : S.SUBSCRIPTION_NONE;
  return { jid: i.jid, name: i.name, subscription, pendingOut: i.pendingOut, approved: i.approved, groups: [...i.groups] };
}

/** A contact's bare JID: any domain for the item itself, this domain for subscription actions (no federation). */
function contactJid(raw: string, domain: string, local: boolean): string {
  if (raw === '') throw ApiError.invalid('contact_jid', 'a JID is required');
  const j = parseJidOrError(raw);
  if (j instanceof JidError) throw ApiError.invalid('contact_jid', invalidJidText(raw, j));
  if (!j.isBare()) throw ApiError.invalid('contact_jid', 'a roster item is a bare JID, without resource');
  if (local && j.domain !== domain) throw ApiError.invalid('contact_jid', `subscriptions reach only ${domain}: this server does not federate`);
  return j.toString();
}

/** vigil.presence.v1.RosterService: roster sets run on the owner through the XMPP path's code. */
export function rosterService(d: RosterServiceDeps): api.roster.RosterServiceServer {
  const user = (raw: string) => accountJid(raw, 'jid', d.domain, 'bare').toString();
  return {
    getRoster: unary(d, 'GetRoster', 'read', async (req: api.roster.GetRosterRequest, call) => {
      const j = user(req.jid);
      const a = await d.owners.ask(d.owners.shardOf(j), { $case: 'roster', roster: { bareJid: j } }, 'roster', call.getDeadline());
      const r = a.roster.roster;
      return {
        version: r?.version ?? 0,
        items: (r?.items ?? []).map(item),
        pendingIn: (r?.pendingIn ?? []).map((p) => ({ fromJid: p.fromBareJid, receivedAtUnixMs: p.receivedAtUnixMs })),
        blocked: [...(r?.blocked ?? [])],
      };
    }),

    upsertItem: unary(d, 'UpsertItem', 'admin', async (req: api.roster.UpsertItemRequest, call) => {
      const j = user(req.jid);
      const contact = contactJid(req.contactJid, d.domain, req.requestSubscription || req.approveSubscription);
      if (contact === j) throw ApiError.invalid('contact_jid', 'the account itself cannot be a roster item');
      const edit: Parameters<typeof d.owners.ask>[1] = {
        $case: 'rosterEdit',
        rosterEdit: {
          bareJid: j, contactJid: contact, remove: false, name: req.name, groups: [...req.groups],
          requestSubscription: req.requestSubscription, approveSubscription: req.approveSubscription,
        },
      };
      const a = await d.owners.ask(d.owners.shardOf(j), edit, 'rosterEdit', call.getDeadline());
      const after = a.rosterEdit.item;
      if (after === undefined) throw ApiError.notFound('roster item', contact, 'the item was removed meanwhile');
      return { item: item(after), version: a.rosterEdit.version };
    }),

    removeItem: unary(d, 'RemoveItem', 'admin', async (req: api.roster.RemoveItemRequest, call) => {
      const j = user(req.jid);
      const contact = contactJid(req.contactJid, d.domain, false);
      const a = await d.owners.ask(
        d.owners.shardOf(j),
        { $case: 'rosterEdit', rosterEdit: { bareJid: j, contactJid: contact, remove: true, name: '', groups: [], requestSubscription: false, approveSubscription: false } },
        'rosterEdit',
        call.getDeadline(),
      );
      return { version: a.rosterEdit.version };
    }),
  };
}
