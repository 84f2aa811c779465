/**
 * The rules an imported account must meet, the same for the command line
 * (before anything is sent) and the server (before anything is written):
 * JIDs normalized (RFC 7622), the roster limits of the XMPP path, credentials
 * usable, and rosters of users in the same import consistent both ways.
 */
import { jid, JidError, parseJidOrError, type Jid } from '@vigil/xmpp';
import { HASH_BYTES, type Location, type PieAccount, type PieItem, type PiePending, type Problem } from './model.js';

export interface ValidateOptions {
  /** The cluster's XMPP domain: usernames are its localparts. */
  readonly domain: string;
  /** VIGIL_MAX_ROSTER_ITEMS of the authority. */
  readonly maxRosterItems: number;
}

/** The XMPP path's limits (RFC 7622 §3.4 caps a JID part at 1023 octets). */
export const LIMITS = Object.freeze({ maxNameLength: 1023, maxGroupLength: 1023, maxGroups: 64, minPassword: 4, maxPassword: 1024, maxBlocked: 10_000, maxPendingIn: 1000 });
/** Fewer iterations than this are kept, with a warning (RFC 7677 §4 asks for at least 4096). */
export const MIN_SAFE_ITERATIONS = 4096;

export interface Validated {
  /** The accounts, normalized; same indices as the input. */
  readonly accounts: readonly PieAccount[];
  /** Indices of accounts with at least one error. */
  readonly invalid: ReadonlySet<number>;
  readonly problems: readonly Problem[];
}

/**
 * parseJidOrError with memory: in an import every user's JID comes back as a
 * contact of each of their contacts, and RFC 7622 preparation is the
 * costly part of validation. Bounded: past the limit it stops remembering.
 */
function jidCache(limit = 1_000_000): (raw: string) => Jid | JidError {
  const known = new Map<string, Jid | JidError>();
  return (raw) => {
    const cached = known.get(raw);
    if (cached !== undefined) return cached;
    const parsed = parseJidOrError(raw);
    if (known.size < limit) known.set(raw, parsed);
    return parsed;
  };
}

export function validateAccounts(input: readonly PieAccount[], options: ValidateOptions): Validated {
  const parse = jidCache();
  const problems: Problem[] = [];
  const invalid = new Set<number>();
  const firstAt = new Map<string, number>();
  const accounts = input.map((a, i) => {
    const report = (severity: Problem['severity'], field: string, message: string, at: Location | undefined): void => {
      if (severity === 'error') invalid.add(i);
      problems.push({ severity, account: i, field, message, ...(at !== undefined ? { at } : {}) });
    };
    const normalized = normalizeAccount(a, options, report, parse);
    const earlier = firstAt.get(normalized.username);
    if (earlier !== undefined) {
      const there = input[earlier]?.at;
      report('error', 'username', `${normalized.username} appears twice${there !== undefined ? ` (first at line ${there.line})` : ` (first as account ${earlier})`}`, a.at);
    } else if (normalized.username !== '') {
      firstAt.set(normalized.username, i);
    }
    return normalized;
  });
  problems.push(...consistency(accounts, options.domain, firstAt, invalid));
  return { accounts, invalid, problems };
}

type Report = (severity: Problem['severity'], field: string, message: string, at: Location | undefined) => void;

function normalizeAccount(a: PieAccount, o: ValidateOptions, report: Report, parse: (raw: string) => Jid | JidError): PieAccount {
  let username = '';
  try {
    if (a.username === '') throw new JidError('empty', a.username);
    username = jid(a.username, o.domain).local;
  } catch (e) {
    if (!(e instanceof JidError)) throw e;
    report('error', 'username', `${JSON.stringify(a.username)} is not a valid JID localpart: ${e.message}`, a.at);
  }
  const self = username === '' ? '' : `${username}@${o.domain}`;
  if (a.password !== undefined) {
    if (a.password.length < LIMITS.minPassword || a.password.length > LIMITS.maxPassword) {
      report('error', 'password', `a password has ${LIMITS.minPassword} to ${LIMITS.maxPassword} characters`, a.at);
    }
    if (a.scram.length > 0) report('warning', 'scram', 'both a password and SCRAM keys: the password is used', a.at);
  } else if (a.scram.length === 0) {
    report('warning', 'password', 'neither a password nor SCRAM keys: a new account cannot log in until `vigil accounts passwd`; an existing one keeps its keys', a.at);
  }
  const hashes = new Set<string>();
  for (const [j, c] of a.scram.entries()) {
    if (hashes.has(c.hash)) report('error', `scram[${j}]`, `two sets of ${c.hash} keys`, a.at);
    hashes.add(c.hash);
    if (c.storedKey.length !== HASH_BYTES[c.hash] || c.serverKey.length !== HASH_BYTES[c.hash]) report('error', `scram[${j}]`, `${c.hash} keys are ${HASH_BYTES[c.hash]} bytes`, a.at);
    if (c.salt.length === 0 || c.salt.length > 1024) report('error', `scram[${j}].salt`, 'a salt has 1 to 1024 bytes', a.at);
    if (!Number.isSafeInteger(c.iterations) || c.iterations < 1 || c.iterations > 10_000_000) report('error', `scram[${j}].iterations`, '1 to 10,000,000 iterations', a.at);
    else if (c.iterations < MIN_SAFE_ITERATIONS) report('warning', `scram[${j}].iterations`, `${c.iterations} iterations, fewer than ${MIN_SAFE_ITERATIONS}: kept as they are`, a.at);
  }

  const items = normalizeItems(a.items, self, o, report, parse);
  const pendingIn = normalizePending(a.pendingIn, self, report, parse);
  const blocked = new Set<string>();
  for (const [j, b] of a.blocked.entries()) {
    const parsed = parse(b);
    if (parsed instanceof JidError) report('error', `blocked[${j}]`, `${JSON.stringify(b.slice(0, 80))} is not a valid JID: ${parsed.message}`, a.at);
    else if (blocked.has(parsed.toString())) report('warning', `blocked[${j}]`, `${parsed.toString()} is blocked twice: once is kept`, a.at);
    else blocked.add(parsed.toString());
  }
  if (blocked.size > LIMITS.maxBlocked) report('error', 'blocked', `${blocked.size} blocked JIDs, more than ${LIMITS.maxBlocked}`, a.at);
  return { username, ...(a.password !== undefined ? { password: a.password } : {}), scram: a.password !== undefined ? [] : a.scram, items, pendingIn, blocked: [...blocked], ...(a.at !== undefined ? { at: a.at } : {}) };
}

function normalizeItems(input: readonly PieItem[], self: string, o: ValidateOptions, report: Report, parse: (raw: string) => Jid | JidError): PieItem[] {
  const items: PieItem[] = [];
  const seen = new Set<string>();
  for (const [j, item] of input.entries()) {
    const f = `items[${j}]`;
    const parsed = parse(item.jid);
    let ok = true;
    const bad = (field: string, message: string): void => {
      ok = false;
      report('error', `${f}.${field}`, message, item.at);
    };
    if (parsed instanceof JidError) bad('jid', `${JSON.stringify(item.jid.slice(0, 80))} is not a valid JID: ${parsed.message}`);
    else if (!parsed.isBare()) bad('jid', `${parsed.toString()} has a resource: a roster item is a bare JID`);
    else if (parsed.toString() === self) bad('jid', 'the account itself cannot be a roster item');
    else if (seen.has(parsed.toString())) bad('jid', `${parsed.toString()} is in the roster twice`);
    if (item.name.length > LIMITS.maxNameLength) bad('name', `longer than ${LIMITS.maxNameLength} characters`);
    const groups = [...new Set(item.groups)];
    if (groups.length !== item.groups.length) report('warning', `${f}.groups`, 'a group is named twice: once is kept', item.at);
    if (groups.length > LIMITS.maxGroups) bad('groups', `more than ${LIMITS.maxGroups} groups`);
    for (const g of groups) if (g.length === 0 || g.length > LIMITS.maxGroupLength) bad('groups', `a group name has 1 to ${LIMITS.maxGroupLength} characters`);
    if (!ok || parsed instanceof JidError) continue;
    seen.add(parsed.toString());
    items.push({ ...item, jid: parsed.toString(), groups });
  }
  if (items.length > o.maxRosterItems) report('error', 'items', `${items.length} roster items, more than this cluster's ${o.maxRosterItems}`, undefined);
  return items;
}

function normalizePending(input: readonly PiePending[], self: string, report: Report, parse: (raw: string) => Jid | JidError): PiePending[] {
  const out: PiePending[] = [];
  for (const [j, p] of input.entries()) {
    const parsed = parse(p.from);
    if (parsed instanceof JidError) {
      report('error', `pending_in[${j}].from`, `${JSON.stringify(p.from.slice(0, 80))} is not a valid JID: ${parsed.message}`, p.at);
      continue;
    }
    const from = parsed.toBareString();
    if (from === self) report('error', `pending_in[${j}].from`, 'a request from the account itself', p.at);
    else if (out.some((q) => q.from === from)) report('warning', `pending_in[${j}]`, `two requests from ${from}: the first is kept`, p.at);
    else out.push({ ...p, from });
  }
  if (out.length > LIMITS.maxPendingIn) report('error', 'pending_in', `more than ${LIMITS.maxPendingIn} pending requests`, undefined);
  return out;
}

const seesContact = (s: string): boolean => s === 'to' || s === 'both';
const contactSees = (s: string): boolean => s === 'from' || s === 'both';

/**
 * RFC 6121 keeps both sides of a subscription in step: alice's `to` is
 * bob's `from`, alice's ask='subscribe' is bob's pending request. When both
 * users are in the import, a mismatch is reported (once per pair), never
 * repaired: the import writes what the file says.
 */
function consistency(accounts: readonly PieAccount[], domain: string, indexOf: ReadonlyMap<string, number>, invalid: ReadonlySet<number>): Problem[] {
  const out: Problem[] = [];
  const suffix = `@${domain}`;
  const itemOf = (a: PieAccount, contact: string): PieItem | undefined => a.items.find((i) => i.jid === contact);
  for (const [i, a] of accounts.entries()) {
    if (invalid.has(i) || a.username === '') continue;
    const me = `${a.username}${suffix}`;
    const contacts = new Set([...a.items.map((x) => x.jid), ...a.pendingIn.map((p) => p.from)]);
    for (const contact of contacts) {
      if (!contact.endsWith(suffix)) continue;
      const j = indexOf.get(contact.slice(0, -suffix.length));
      if (j === undefined || invalid.has(j) || j === i) continue;
      const b = accounts[j] as PieAccount;
      // Each pair once: from the side with the lower index, unless only the other side names it.
      if (j < i && (b.items.some((x) => x.jid === me) || b.pendingIn.some((p) => p.from === me))) continue;
      const mine = itemOf(a, contact);
      const theirs = itemOf(b, me);
      const sa = mine?.subscription ?? 'none';
      const sb = theirs?.subscription ?? 'none';
      const describe = (s: string, it: PieItem | undefined): string => (it === undefined ? 'no item' : `'${s}'`);
      const at = mine?.at ?? a.pendingIn.find((p) => p.from === contact)?.at ?? a.at;
      const field = mine !== undefined ? `items[${a.items.indexOf(mine)}]` : 'pending_in';
      const warn = (message: string): void => void out.push({ severity: 'warning', account: i, field, message, ...(at !== undefined ? { at } : {}) });
      if (seesContact(sa) !== contactSees(sb) || contactSees(sa) !== seesContact(sb)) {
        warn(`${me} has ${contact} as ${describe(sa, mine)} but ${contact} has ${me} as ${describe(sb, theirs)}: imported as written`);
      }
      const aAsks = mine?.pendingOut === true;
      const bHasRequest = b.pendingIn.some((p) => p.from === me);
      if (aAsks !== bHasRequest) {
        warn(aAsks ? `${me} awaits an answer from ${contact}, who has no request from ${me}` : `${contact} has a request from ${me}, whose item does not say ask='subscribe'`);
      }
      const bAsks = theirs?.pendingOut === true;
      const aHasRequest = a.pendingIn.some((p) => p.from === contact);
      if (bAsks !== aHasRequest) {
        warn(bAsks ? `${contact} awaits an answer from ${me}, who has no request from ${contact}` : `${me} has a request from ${contact}, whose item does not say ask='subscribe'`);
      }
    }
  }
  return out;
}
