/**
 * Accounts to a XEP-0227 document, one element per line so that an import
 * of the file reports problems by line. SCRAM values are plain base64 of the
 * raw bytes (XEP-0227 §4); the block list is written as the default privacy
 * list of whole-JID denials, the form ejabberd reads and writes.
 */
import { escapeAttr, escapeText } from '@vigil/xmpp';
import { NS_CLIENT, NS_PIE, NS_PIE_SCRAM, NS_PRIVACY, NS_ROSTER, SCRAM_MECHANISM, type PieAccount } from './model.js';

/** Name of the privacy list that carries the block list (ejabberd's mod_blocking uses the same). */
export const BLOCK_LIST_NAME = 'Blocked contacts';

export function documentHead(domain: string): string {
  return `<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='${NS_PIE}'>\n  <host jid='${escapeAttr(domain)}'>\n`;
}

export const DOCUMENT_TAIL = '  </host>\n</server-data>\n';

const attr = (name: string, value: string): string => ` ${name}='${escapeAttr(value)}'`;

/** One `<user/>` element, indented, ending with a line break. */
export function writeUser(a: PieAccount, domain: string): string {
  const lines: string[] = [];
  const open = `    <user${attr('name', a.username)}${a.password !== undefined ? attr('password', a.password) : ''}`;
  const self = `${a.username}@${domain}`;
  const body: string[] = [];
  for (const c of a.scram) {
    body.push(
      `      <scram-credentials xmlns='${NS_PIE_SCRAM}'${attr('mechanism', SCRAM_MECHANISM[c.hash])}>` +
        `<iter-count>${c.iterations}</iter-count><salt>${c.salt.toString('base64')}</salt>` +
        `<server-key>${c.serverKey.toString('base64')}</server-key><stored-key>${c.storedKey.toString('base64')}</stored-key></scram-credentials>`,
    );
  }
  if (a.items.length > 0) {
    body.push(`      <query xmlns='${NS_ROSTER}'>`);
    for (const i of a.items) {
      const attrs = `${attr('jid', i.jid)}${i.name !== '' ? attr('name', i.name) : ''}${attr('subscription', i.subscription)}${i.pendingOut ? attr('ask', 'subscribe') : ''}${i.approved ? attr('approved', 'true') : ''}`;
      body.push(i.groups.length === 0 ? `        <item${attrs}/>` : `        <item${attrs}>${i.groups.map((g) => `<group>${escapeText(g)}</group>`).join('')}</item>`);
    }
    body.push('      </query>');
  }
  if (a.blocked.length > 0) {
    body.push(`      <query xmlns='${NS_PRIVACY}'><default${attr('name', BLOCK_LIST_NAME)}/>`);
    body.push(`        <list${attr('name', BLOCK_LIST_NAME)}>`);
    for (const [n, b] of a.blocked.entries()) body.push(`          <item type='jid'${attr('value', b)} action='deny' order='${n + 1}'/>`);
    body.push('        </list>');
    body.push('      </query>');
  }
  for (const p of a.pendingIn) {
    const status = p.status === '' ? '' : `<status>${escapeText(p.status)}</status>`;
    body.push(`      <presence xmlns='${NS_CLIENT}'${attr('from', p.from)}${attr('to', self)} type='subscribe'${status === '' ? '/>' : `>${status}</presence>`}`);
  }
  if (body.length === 0) return `${open}/>\n`;
  lines.push(`${open}>`, ...body, '    </user>');
  return `${lines.join('\n')}\n`;
}

/** A whole document in one string (small exports and tests; the CLI streams with documentHead/writeUser). */
export function writeDocument(domain: string, accounts: Iterable<PieAccount>): string {
  let out = documentHead(domain);
  for (const a of accounts) out += writeUser(a, domain);
  return out + DOCUMENT_TAIL;
}
