import { api } from '@vigil/proto';
import { flag, str, strs, type Command, type Group } from '../command.js';
import { Exit } from '../exit-codes.js';
import { label, table, time, toJson } from '../output.js';

const R = api.roster;

const subscription = (s: api.roster.Subscription): string => label(R.subscriptionToJSON(s), 'SUBSCRIPTION_');

function itemRows(items: readonly api.roster.RosterItem[]): string[][] {
  return items.map((i) => [
    i.jid,
    i.name,
    subscription(i.subscription),
    [i.pendingOut ? 'subscribe' : '', i.approved ? 'pre-approved' : ''].filter((s) => s !== '').join(', '),
    i.groups.join(', '),
  ]);
}

const ITEM_HEADERS = ['contact', 'name', 'subscription', 'pending', 'groups'];

const get: Command = {
  name: 'get',
  args: '<jid>',
  arity: [1, 1],
  summary: "show a user's roster, pending requests and block list",
  description: `The roster of <jid> (a bare JID, user@domain): each contact with its name,
subscription state (none, to, from, both), whether the user's own request is
pending ("subscribe") or the contact is pre-approved, and groups; then the
subscription requests the user has not answered and the blocked JIDs.`,
  async run(ctx) {
    const jid = ctx.args[0] ?? '';
    const api = ctx.api();
    const res = await api.call(api.roster.getRoster.bind(api.roster), { jid });
    if (ctx.json) {
      ctx.printJson(toJson(R.GetRosterResponse, res));
      return Exit.OK;
    }
    const parts = [`roster of ${jid} (version ${res.version}): ${res.items.length === 0 ? 'empty' : ''}`.trimEnd()];
    if (res.items.length > 0) parts.push(table(ITEM_HEADERS, itemRows(res.items)));
    if (res.pendingIn.length > 0) {
      parts.push('', 'subscription requests awaiting an answer:', table(['from', 'received'], res.pendingIn.map((p) => [p.fromJid, time(p.receivedAtUnixMs)])));
    }
    if (res.blocked.length > 0) parts.push('', `blocked: ${res.blocked.join(', ')}`);
    ctx.print(parts.join('\n'));
    return Exit.OK;
  },
};

const add: Command = {
  name: 'add',
  args: '<jid> <contact-jid>',
  arity: [2, 2],
  summary: 'add a contact or replace its name and groups',
  description: `Adds <contact-jid> to the roster of <jid>, or replaces the item's name and
groups, exactly as the user's own client would (RFC 6121 §2.4): the user's
interested resources get a roster push. The subscription state changes only
through --subscribe and --approve, which act as if the user sent
<presence type='subscribe'/> or <presence type='subscribed'/> to the contact.`,
  options: {
    name: { type: 'string', value: 'NAME', help: 'display name (default: none)' },
    group: { type: 'string', multiple: true, value: 'GROUP', help: 'a group; repeat for several (replaces the item\'s groups)' },
    subscribe: { type: 'boolean', help: "ask to see the contact's presence" },
    approve: { type: 'boolean', help: "let the contact see the user's presence (answers or pre-approves a request)" },
  },
  async run(ctx) {
    const [jid = '', contactJid = ''] = ctx.args;
    const api = ctx.api();
    const res = await api.call(api.roster.upsertItem.bind(api.roster), {
      jid,
      contactJid,
      name: str(ctx.values, 'name') ?? '',
      groups: strs(ctx.values, 'group'),
      requestSubscription: flag(ctx.values, 'subscribe'),
      approveSubscription: flag(ctx.values, 'approve'),
    });
    if (ctx.json) ctx.printJson(toJson(R.UpsertItemResponse, res));
    else ctx.print(`roster of ${jid} (version ${res.version}):\n${table(ITEM_HEADERS, itemRows(res.item ? [res.item] : []))}`);
    return Exit.OK;
  },
};

const remove: Command = {
  name: 'remove',
  args: '<jid> <contact-jid>',
  arity: [2, 2],
  summary: 'remove a contact',
  description: `Removes <contact-jid> from the roster of <jid> (RFC 6121 §2.5): subscriptions
both ways are cancelled and the contact is told. Exit code 2 when there is
no such item.`,
  async run(ctx) {
    const [jid = '', contactJid = ''] = ctx.args;
    const api = ctx.api();
    const res = await api.call(api.roster.removeItem.bind(api.roster), { jid, contactJid });
    if (ctx.json) ctx.printJson(toJson(R.RemoveItemResponse, res));
    else ctx.print(`removed ${contactJid} from the roster of ${jid} (version ${res.version})`);
    return Exit.OK;
  },
};

export const roster: Group = { name: 'roster', summary: "read and edit a user's roster", commands: [get, add, remove] };
