/**
 * XEP-0227 files to accounts. The format is XEP-0227 1.1 (`urn:xmpp:pie:0`)
 * as servers actually write it: ejabberd's export_piefxis (a main file that
 * XIncludes one file per host, SCRAM keys in `<scram-credentials/>`, the
 * XEP-0191 block list as a privacy list, pending requests as `<presence
 * type='subscribe'/>` children of `<user/>`) and this writer's own output.
 * Every problem is collected with its location; nothing stops at the first.
 */
import {
  HASH_BYTES, NS_BLOCKING, NS_CLIENT, NS_PIE, NS_PIE_SCRAM, NS_PRIVACY, NS_ROSTER, NS_XINCLUDE,
  type Location, type PieAccount, type PieHash, type PieItem, type PiePending, type PieScram, type Problem, type Subscription,
} from './model.js';
import { PieSyntaxError, readTree, type XmlNode } from './xml-tree.js';

export interface PieHost {
  /** `<host jid=''/>` as written. */
  readonly domain: string;
  readonly at: Location;
  readonly accounts: PieAccount[];
}

export interface PieParseResult {
  readonly hosts: PieHost[];
  /** Problems found while reading; `account` indexes the host's accounts. */
  readonly problems: (Problem & { readonly host?: string })[];
}

/** Reads an XIncluded file: `href` as written, relative to `from`. Throws to refuse. */
export type IncludeReader = (href: string, from: string) => { readonly file: string; readonly text: string };

/** Includes nest at most this deep (ejabberd uses one level). */
const MAX_INCLUDE_DEPTH = 4;

const MECHANISMS: Readonly<Record<string, PieHash>> = { 'SCRAM-SHA-1': 'sha1', 'SCRAM-SHA-256': 'sha256' };
const SUBSCRIPTIONS: ReadonlySet<string> = new Set(['none', 'to', 'from', 'both']);

/** Parses a XEP-0227 document and what it includes. */
export function parsePie(text: string, file: string, readInclude?: IncludeReader): PieParseResult {
  const result: PieParseResult = { hosts: [], problems: [] };
  const state = { doubleBase64: false, seen: new Set<string>() };
  parseFile(text, file, readInclude, result, state, 0);
  if (state.doubleBase64) {
    result.problems.push({
      severity: 'warning',
      field: 'scram-credentials',
      message: 'SCRAM salts and keys are base64 of base64 (as ejabberd 23.01 and older export them): decoded twice',
      at: { file, line: 1, column: 1 },
    });
  }
  return result;
}

interface ParseState {
  doubleBase64: boolean;
  /** Files already included, against include loops. */
  seen: Set<string>;
}

function parseFile(text: string, file: string, readInclude: IncludeReader | undefined, out: PieParseResult, state: ParseState, level: number): void {
  const problem = (p: Problem & { host?: string }): void => void out.problems.push(p);
  let host: PieHost | undefined;
  let hostDepth = -1;
  let rootSeen = false;
  try {
    readTree(text, file, {
      open(node, depth) {
        if (depth === 1) {
          rootSeen = true;
          if (node.ns !== NS_PIE || (node.name !== 'server-data' && node.name !== 'host')) {
            throw new PieSyntaxError(`the root element must be <server-data xmlns='${NS_PIE}'/> (or <host/> in an included file), not <${node.name} xmlns='${node.ns}'/>`, node.at);
          }
          if (node.name === 'host') [host, hostDepth] = [openHost(node, out), depth];
          return false;
        }
        if (node.ns === NS_XINCLUDE && node.name === 'include') {
          include(node, file, readInclude, out, state, level);
          return false;
        }
        if (host === undefined) {
          if (node.ns === NS_PIE && node.name === 'host') {
            [host, hostDepth] = [openHost(node, out), depth];
            return false;
          }
          problem({ severity: 'warning', field: node.name, message: `<${node.name} xmlns='${node.ns}'/> is not part of XEP-0227 here: skipped`, at: node.at });
          return true; // captured and dropped
        }
        if (node.ns === NS_PIE && node.name === 'user' && depth === hostDepth + 1) return true;
        problem({ severity: 'warning', field: node.name, message: `<${node.name}/> inside <host/> is not a user: skipped`, at: node.at, host: host.domain });
        return true;
      },
      close(depth) {
        if (depth === hostDepth) [host, hostDepth] = [undefined, -1];
      },
      captured(node) {
        if (node.ns !== NS_PIE || node.name !== 'user' || host === undefined) return;
        const index = host.accounts.length;
        const { account, problems } = readUser(node, state);
        host.accounts.push(account);
        for (const p of problems) problem({ ...p, account: index, host: host.domain });
      },
    });
  } catch (e) {
    if (!(e instanceof PieSyntaxError)) throw e;
    problem({ severity: 'error', field: 'xml', message: `not well-formed or not allowed: ${e.message.slice(e.message.indexOf(': ') + 2)}`, at: e.at });
  }
  if (!rootSeen && !out.problems.some((p) => p.at?.file === file)) {
    problem({ severity: 'error', field: 'xml', message: 'no root element', at: { file, line: 1, column: 1 } });
  }
}

function openHost(node: XmlNode, out: PieParseResult): PieHost {
  const domain = node.attrs.jid ?? '';
  if (domain === '') out.problems.push({ severity: 'error', field: 'host.jid', message: '<host/> without a jid attribute', at: node.at });
  const existing = out.hosts.find((h) => h.domain === domain);
  if (existing !== undefined) return existing;
  const host: PieHost = { domain, at: node.at, accounts: [] };
  out.hosts.push(host);
  return host;
}

function include(node: XmlNode, from: string, readInclude: IncludeReader | undefined, out: PieParseResult, state: ParseState, level: number): void {
  const href = node.attrs.href ?? '';
  const fail = (message: string): void => void out.problems.push({ severity: 'error', field: 'xi:include', message, at: node.at });
  if (href === '') return fail('<xi:include/> without href');
  if ((node.attrs.parse ?? 'xml') !== 'xml') return fail(`<xi:include parse='${node.attrs.parse}'/>: only parse='xml' is supported`);
  if (readInclude === undefined) return fail(`includes ${href}, but no file may be included here`);
  if (level + 1 > MAX_INCLUDE_DEPTH) return fail(`includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
  let included: { file: string; text: string };
  try {
    included = readInclude(href, from);
  } catch (e) {
    return fail(`cannot include ${href}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (state.seen.has(included.file)) return fail(`${href} is included twice`);
  state.seen.add(included.file);
  parseFile(included.text, included.file, readInclude, out, state, level + 1);
}

type UserProblem = Omit<Problem, 'account'>;

/** One `<user/>` subtree to an account and what was wrong with it. */
export function readUser(user: XmlNode, state: { doubleBase64: boolean }): { account: PieAccount; problems: UserProblem[] } {
  const problems: UserProblem[] = [];
  const err = (field: string, message: string, at: Location): void => void problems.push({ severity: 'error', field, message, at });
  const warn = (field: string, message: string, at: Location): void => void problems.push({ severity: 'warning', field, message, at });
  const username = user.attrs.name ?? '';
  if (username === '') err('username', '<user/> without a name attribute', user.at);
  const password = user.attrs.password;
  const scram: PieScram[] = [];
  const items: PieItem[] = [];
  const pendingIn: PiePending[] = [];
  const blocked: string[] = [];
  const skipped = new Set<string>();
  const skip = (node: XmlNode, what: string): void => {
    if (skipped.has(what)) return;
    skipped.add(what);
    warn(node.name, `${what} not imported: Vigil keeps no such data`, node.at);
  };

  for (const child of user.children) {
    if (child.ns === NS_PIE_SCRAM && child.name === 'scram-credentials') {
      const c = readScram(child, scram.length, state, err, warn);
      if (c !== undefined) scram.push(c);
    } else if (child.ns === NS_ROSTER && child.name === 'query') {
      for (const item of child.children) {
        if (item.ns === NS_ROSTER && item.name === 'item') items.push(readItem(item, items.length, err));
      }
    } else if (child.ns === NS_PRIVACY && child.name === 'query') {
      readPrivacy(child, blocked, warn);
    } else if (child.ns === NS_BLOCKING && child.name === 'blocklist') {
      for (const item of child.children) {
        if (item.name !== 'item') continue;
        const jid = item.attrs.jid ?? '';
        if (jid === '') err(`blocked[${blocked.length}]`, 'a blocklist item without jid', item.at);
        else blocked.push(jid);
      }
    } else if (child.name === 'presence' && (child.ns === NS_CLIENT || child.ns === NS_PIE)) {
      readPresence(child, pendingIn, err, skip);
    } else if (child.name === 'offline-messages') {
      for (const stanza of child.children) {
        if (stanza.name === 'presence') readPresence(stanza, pendingIn, err, skip);
        else skip(stanza, 'offline messages are');
      }
    } else {
      skip(child, `<${child.name} xmlns='${child.ns}'/> is`);
    }
  }
  const account: PieAccount = { username, scram, items, pendingIn, blocked, at: user.at, ...(password !== undefined ? { password } : {}) };
  return { account, problems };
}

function readScram(
  node: XmlNode,
  index: number,
  state: { doubleBase64: boolean },
  err: (field: string, message: string, at: Location) => void,
  warn: (field: string, message: string, at: Location) => void,
): PieScram | undefined {
  const field = `scram[${index}]`;
  const mechanism = node.attrs.mechanism ?? '';
  const hash = MECHANISMS[mechanism];
  if (hash === undefined) {
    warn(field, `mechanism ${JSON.stringify(mechanism)} is not supported (SCRAM-SHA-1, SCRAM-SHA-256): these keys are skipped`, node.at);
    return undefined;
  }
  const text = (name: string): string | undefined => node.children.find((c) => c.name === name)?.text.trim();
  const iterText = text('iter-count');
  const iterations = iterText !== undefined && /^\d{1,9}$/.test(iterText) ? Number(iterText) : NaN;
  if (!(iterations >= 1)) {
    err(`${field}.iter-count`, `a positive iteration count is required, got ${JSON.stringify(iterText ?? '')}`, node.at);
    return undefined;
  }
  const raw = { salt: text('salt'), serverKey: text('server-key'), storedKey: text('stored-key') };
  const once: Partial<Record<keyof typeof raw, Buffer>> = {};
  for (const k of ['salt', 'serverKey', 'storedKey'] as const) {
    const v = raw[k];
    const decoded = v === undefined ? undefined : decodeBase64(v);
    if (decoded === undefined || decoded.length === 0) {
      err(`${field}.${k}`, v === undefined ? `<${xmlName(k)}/> is missing` : `<${xmlName(k)}/> is not base64`, node.at);
      return undefined;
    }
    once[k] = decoded;
  }
  const want = HASH_BYTES[hash];
  let { salt, serverKey, storedKey } = once as Record<keyof typeof raw, Buffer>;
  if (serverKey.length !== want || storedKey.length !== want) {
    // ejabberd up to 23.01 writes base64(base64(raw)).
    const twice = [salt, serverKey, storedKey].map((b) => decodeBase64(b.toString('latin1')));
    const [s2, sk2, st2] = twice;
    if (s2 === undefined || sk2?.length !== want || st2?.length !== want || s2.length === 0) {
      err(field, `${mechanism} keys must be ${want} bytes, got ${serverKey.length} and ${storedKey.length}`, node.at);
      return undefined;
    }
    state.doubleBase64 = true;
    [salt, serverKey, storedKey] = [s2, sk2, st2];
  }
  return { hash, salt, iterations, storedKey, serverKey };
}

const xmlName = (k: 'salt' | 'serverKey' | 'storedKey'): string => (k === 'salt' ? 'salt' : k === 'serverKey' ? 'server-key' : 'stored-key');

/** Strict base64 (RFC 4648 §4, whitespace ignored); undefined when it is not. */
export function decodeBase64(text: string): Buffer | undefined {
  const s = text.replace(/\s+/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

function readItem(node: XmlNode, index: number, err: (field: string, message: string, at: Location) => void): PieItem {
  const field = `items[${index}]`;
  const jid = node.attrs.jid ?? '';
  if (jid === '') err(`${field}.jid`, 'a roster item without jid', node.at);
  const sub = node.attrs.subscription ?? 'none';
  let subscription: Subscription = 'none';
  if (SUBSCRIPTIONS.has(sub)) subscription = sub as Subscription;
  else err(`${field}.subscription`, `subscription must be none, to, from or both, not ${JSON.stringify(sub)}`, node.at);
  const ask = node.attrs.ask;
  if (ask !== undefined && ask !== 'subscribe') err(`${field}.ask`, `ask must be 'subscribe', not ${JSON.stringify(ask)}`, node.at);
  const approved = node.attrs.approved;
  if (approved !== undefined && !['true', 'false', '1', '0'].includes(approved)) err(`${field}.approved`, `approved must be true or false, not ${JSON.stringify(approved)}`, node.at);
  const groups = node.children.filter((c) => c.name === 'group').map((g) => g.text);
  return {
    jid,
    name: node.attrs.name ?? '',
    subscription,
    pendingOut: ask === 'subscribe',
    approved: approved === 'true' || approved === '1',
    groups,
    at: node.at,
  };
}

/**
 * XEP-0191 on a privacy-list server (ejabberd's mod_blocking): the block
 * list is the default list's whole-JID deny items. Anything else a privacy
 * list can say has no equivalent here.
 */
function readPrivacy(query: XmlNode, blocked: string[], warn: (field: string, message: string, at: Location) => void): void {
  const defaultName = query.children.find((c) => c.name === 'default')?.attrs.name;
  let other = false;
  for (const list of query.children.filter((c) => c.name === 'list')) {
    if (list.attrs.name !== defaultName) {
      other = true;
      continue;
    }
    for (const item of list.children.filter((c) => c.name === 'item')) {
      const wholeJid = item.attrs.type === 'jid' && item.attrs.action === 'deny' && item.children.length === 0 && (item.attrs.value ?? '') !== '';
      if (wholeJid) blocked.push(item.attrs.value ?? '');
      else other = true;
    }
  }
  if (other) warn('privacy', 'privacy rules other than whole-JID blocks in the default list are not imported (Vigil implements XEP-0191 only)', query.at);
}

function readPresence(
  node: XmlNode,
  pendingIn: PiePending[],
  err: (field: string, message: string, at: Location) => void,
  skip: (node: XmlNode, what: string) => void,
): void {
  if (node.attrs.type !== 'subscribe') return skip(node, 'presence other than subscription requests is');
  const from = node.attrs.from ?? '';
  if (from === '') return err(`pending_in[${pendingIn.length}].from`, 'a subscription request without from', node.at);
  const status = node.children.find((c) => c.name === 'status')?.text ?? '';
  pendingIn.push({ from, status, at: node.at });
}
