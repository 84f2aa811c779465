import { JidError, parseJidOrError, type Jid } from '@vigil/xmpp';
import { ApiError } from './errors.js';
import { remembered } from './remembered.js';

/** Most JIDs one BatchGetPresence or WatchPresence takes (documented in presence.proto). */
export const MAX_BATCH_JIDS = 1000;

export type ResourceRule = 'bare' | 'full' | 'either';

/** Parsed JIDs remembered by their raw text. */
const PARSED_MAX = 10_000;

/**
 * RFC 7622 preparation of a JID as a client sent it, remembered: a backend
 * asks about the same users again and again, and the PRECIS profiles were 5 %
 * of the authority's CPU at 2,000 GetPresence calls a second. Jid is
 * immutable, so a remembered one can be handed out again.
 */
const parseRemembered: (raw: string) => Jid | JidError = remembered(PARSED_MAX, parseJidOrError);

/** A JID of an account of `domain`, or INVALID_ARGUMENT naming `field`. */
export function accountJid(raw: string, field: string, domain: string, rule: ResourceRule): Jid {
  if (raw === '') throw ApiError.invalid(field, 'a JID is required');
  const j = parseRemembered(raw);
  if (j instanceof JidError) throw ApiError.invalid(field, invalidJidText(raw, j));
  if (j.local === '') throw ApiError.invalid(field, 'a user JID (user@domain) is required, not a server');
  if (j.domain !== domain) throw ApiError.invalid(field, `the domain ${j.domain} is not served here (only ${domain})`);
  if (rule === 'bare' && !j.isBare()) throw ApiError.invalid(field, 'a bare JID (without resource) is required');
  if (rule === 'full' && j.isBare()) throw ApiError.invalid(field, 'a full JID (with resource) is required');
  return j;
}

/** The API's text for a JID that fails RFC 7622: the input (cut) and why. */
export function invalidJidText(raw: string, error: JidError): string {
  return `not a valid JID: ${JSON.stringify(raw.slice(0, 80))}: ${error.message}`;
}

/** A list of 1 to MAX_BATCH_JIDS entries, or INVALID_ARGUMENT naming `field`. */
export function checkBatch(list: readonly unknown[], field: string): void {
  if (list.length === 0) throw ApiError.invalid(field, 'at least one JID is required');
  if (list.length > MAX_BATCH_JIDS) throw ApiError.invalid(field, `at most ${MAX_BATCH_JIDS} JIDs, got ${list.length}`);
}
