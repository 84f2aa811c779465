import { el, iqResult, NS, type Element } from '@vigil/xmpp';
import { cluster } from '@vigil/proto';

const SUBSCRIPTION_NAME: Record<number, string> = {
  [cluster.Subscription.SUBSCRIPTION_TO]: 'to',
  [cluster.Subscription.SUBSCRIPTION_FROM]: 'from',
  [cluster.Subscription.SUBSCRIPTION_BOTH]: 'both',
};

/** RFC 6121 §2.1.4: the roster result, one <item/> per contact. */
export function rosterResult(iq: Element, items: readonly cluster.RosterItem[], _version: number): Element {
  return iqResult(
    iq,
    el(
      'query',
      { xmlns: NS.roster },
      ...items.map((i) =>
        el(
          'item',
          {
            jid: i.jid,
            name: i.name === '' ? undefined : i.name,
            subscription: SUBSCRIPTION_NAME[i.subscription] ?? 'none',
            ask: i.pendingOut ? 'subscribe' : undefined,
          },
          ...i.groups.map((g) => el('group', {}, g)),
        ),
      ),
    ),
  );
}
