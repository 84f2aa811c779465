/**
 * Roster sets (RFC 6121 §2.1.5, §2.3–§2.5) as a pure plan-then-apply pair:
 * planRosterSet validates one client request against the current roster and
 * names the edit or the stanza error; applyEdit produces the next roster.
 */
import { JidError, parseJidOrError, tryParseJid, type StanzaErrorCondition } from '@vigil/xmpp';
import type { SubscriptionState } from './subscription-state.js';
import type { SubscriptionStanza } from './subscription.js';
import type { Roster, RosterItem } from './types.js';

/** One <item/> of a roster set as parsed by the connection node, attributes raw. */
export interface RosterSetItem {
  readonly jid: string;
  readonly name?: string;
  readonly subscription?: string;
  /** Parsed but never acted on: clients MUST NOT send it (§2.1.2.2) and the RFC defines no error for it. */
  readonly ask?: string;
  readonly groups: readonly string[];
}

export type RosterEditCondition = Extract<
  StanzaErrorCondition,
  'bad-request' | 'not-acceptable' | 'not-allowed' | 'forbidden' | 'policy-violation' | 'item-not-found' | 'jid-malformed'
>;

export interface RosterEditError {
  readonly condition: RosterEditCondition;
  readonly text: string;
}

export type RosterEdit =
  /** Add, or replace name and groups of, an item; subscription state is kept (a new item starts at 'none'). */
  | { readonly kind: 'upsert'; readonly item: RosterItem }
  /** §2.5.2: the caller then sends removalStanzas(previous) to the contact. */
  | { readonly kind: 'remove'; readonly jid: string; readonly previous: RosterItem };

export type RosterSetPlan =
  | { readonly ok: true; readonly edit: RosterEdit }
  | { readonly ok: false; readonly error: RosterEditError };

export interface RosterSetOptions {
  /** Items a roster may hold; adding one more is refused, updating and removing never are. */
  readonly maxItems: number;
  /** UTF-8 octets of the 'name' attribute (§2.3.3 "server-configured limit"). */
  readonly maxNameLength?: number;
  /** UTF-8 octets of one <group/> (§2.3.3 "server-configured limit"). */
  readonly maxGroupLength?: number;
  /** <group/> elements in one item; the RFC sets no number, Vigil bounds it. */
  readonly maxGroups?: number;
  /** The JID that sent the roster set; when given, it must be the owner's account (§2.1.5, §2.3.3). */
  readonly senderJid?: string;
}

/**
 * Names and groups may be compared like resourceparts (§2.1.2.4, §2.1.2.6),
 * which RFC 7622 §3.4 caps at 1023 octets; the same cap is the default here.
 * 64 groups per item is far above what clients use and keeps an item small.
 */
export const ROSTER_SET_DEFAULTS = Object.freeze({ maxNameLength: 1023, maxGroupLength: 1023, maxGroups: 64 });

const fail = (condition: RosterEditCondition, text: string): RosterSetPlan => ({ ok: false, error: { condition, text } });

/** Validates one roster set from `ownerBareJid` against `current` (RFC 6121 §2.3.3, §2.4.3, §2.5.3). */
export function planRosterSet(
  ownerBareJid: string,
  current: Roster,
  items: readonly RosterSetItem[],
  options: RosterSetOptions,
): RosterSetPlan {
  const owner = tryParseJid(ownerBareJid)?.toBareString() ?? ownerBareJid;
  if (options.senderJid !== undefined && tryParseJid(options.senderJid)?.toBareString() !== owner) {
    return fail('forbidden', 'only the account owner may change this roster');
  }
  // §2.1.5 rule 1, §2.3.3: one and only one <item/>.
  const [item] = items;
  if (item === undefined || items.length !== 1) {
    return fail('bad-request', `a roster set carries exactly one item, not ${items.length}`);
  }

  const target = parseItemJid(item.jid);
  if (!target.ok) return target;
  const jid = target.jid;
  const existing = current.items.find((i) => i.jid === jid);

  // §2.1.2.5: in a roster set the server MUST ignore every 'subscription'
  // value other than "remove" — so 'both', 'none' or garbage are not errors.
  if (item.subscription === 'remove') {
    if (existing === undefined) return fail('item-not-found', `${jid} is not in the roster`); // §2.5.3
    return { ok: true, edit: { kind: 'remove', jid, previous: existing } };
  }

  // §2.3.3 interoperability note: some servers refuse the user's own bare
  // JID with <not-allowed/>. Vigil does too: an entity is implicitly
  // subscribed to its own presence (§4.2.2), and a self-item with a
  // subscription state would make the user a "contact" of themselves.
  if (jid === owner) return fail('not-allowed', 'the account itself cannot be a roster item');

  const invalid = checkNameAndGroups(item, options);
  if (invalid !== undefined) return invalid;

  if (existing === undefined && current.items.length >= options.maxItems) {
    return fail('policy-violation', `the roster is full (${options.maxItems} items)`);
  }
  // §2.4.1: an item is atomic and replaced exactly as sent; an absent name is
  // the empty name (§2.4.1 implementation note), absent groups mean none (§2.1.2.6).
  const name = item.name ?? '';
  const groups = [...item.groups];
  const next: RosterItem =
    existing === undefined
      ? { jid, name, subscription: 'none', pendingOut: false, groups }
      : { ...existing, name, groups };
  return { ok: true, edit: { kind: 'upsert', item: next } };
}

function parseItemJid(raw: string): { ok: true; jid: string } | { ok: false; error: RosterEditError } {
  // §2.1.2.3: 'jid' is REQUIRED.
  if (raw === '') return { ok: false, error: { condition: 'bad-request', text: "the item has no 'jid'" } };
  const parsed = parseJidOrError(raw);
  // RFC 6120 §8.3.3.8: an address that does not adhere to RFC 7622.
  if (parsed instanceof JidError) {
    return { ok: false, error: { condition: 'jid-malformed', text: `item 'jid' ${JSON.stringify(raw.slice(0, 80))} is not a valid JID: ${parsed.message}` } };
  }
  // Subscriptions and presence are kept per bare JID (§3.1.1); a full JID is
  // well-formed but not something a roster item can name.
  if (!parsed.isBare()) return { ok: false, error: { condition: 'bad-request', text: 'a roster item is a bare JID, without resource' } };
  return { ok: true, jid: parsed.toBareString() };
}

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

/** §2.3.3: duplicates compare "as XMPP resourceparts" (RFC 7622 §3.4 OpaqueString): other spaces → U+0020, NFC. */
const groupKey = (g: string): string => g.replace(/\p{Zs}/gu, ' ').normalize('NFC');

function checkNameAndGroups(item: RosterSetItem, options: RosterSetOptions): RosterSetPlan | undefined {
  const maxName = options.maxNameLength ?? ROSTER_SET_DEFAULTS.maxNameLength;
  const maxGroup = options.maxGroupLength ?? ROSTER_SET_DEFAULTS.maxGroupLength;
  const maxGroups = options.maxGroups ?? ROSTER_SET_DEFAULTS.maxGroups;
  if (item.name !== undefined && octets(item.name) > maxName) {
    return fail('not-acceptable', `the name is longer than ${maxName} octets`);
  }
  if (item.groups.length > maxGroups) return fail('not-acceptable', `an item may be in at most ${maxGroups} groups`);
  const seen = new Set<string>();
  for (const group of item.groups) {
    // To leave all groups the client omits <group/>; an empty one is an error.
    if (group === '') return fail('not-acceptable', 'a group name cannot be empty');
    if (octets(group) > maxGroup) return fail('not-acceptable', `a group name is longer than ${maxGroup} octets`);
    const k = groupKey(group);
    if (seen.has(k)) return fail('bad-request', `the group '${group}' is listed twice`);
    seen.add(k);
  }
  return undefined;
}

/** The roster after the edit, one version later (§2.6: every roster modification gets a new version). */
export function applyEdit(current: Roster, edit: RosterEdit): Roster {
  switch (edit.kind) {
    case 'upsert': {
      const at = current.items.findIndex((i) => i.jid === edit.item.jid);
      const items = at < 0 ? [...current.items, edit.item] : current.items.map((i, n) => (n === at ? edit.item : i));
      return { version: current.version + 1, items };
    }
    case 'remove':
      return { version: current.version + 1, items: current.items.filter((i) => i.jid !== edit.jid) };
  }
}

/**
 * What the user's server sends the contact after removing its item (§2.5.2):
 * 'unsubscribe' if the user was subscribed to the contact, 'unsubscribed' if
 * the contact was subscribed to the user. Beyond the letter of §2.5.2, a
 * request still pending either way is withdrawn or denied the same way, so
 * the contact's side does not keep a Pending state that nothing will ever
 * answer (an approval arriving later would be silently ignored, §3.1.6).
 * Before an 'unsubscribed' that ends a subscription, the caller sends
 * unavailable from the user's available resources (§3.2.2).
 */
export function removalStanzas(
  previous: Pick<SubscriptionState, 'subscription' | 'pendingOut'> & { readonly pendingIn?: boolean },
): readonly SubscriptionStanza[] {
  const out: SubscriptionStanza[] = [];
  const to = previous.subscription === 'to' || previous.subscription === 'both';
  const from = previous.subscription === 'from' || previous.subscription === 'both';
  if (to || previous.pendingOut) out.push('unsubscribe');
  if (from || previous.pendingIn === true) out.push('unsubscribed');
  return out;
}
