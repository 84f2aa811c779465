/**
 * What a XEP-0227 file says about one account, as plain data: the parser
 * produces it, validation normalizes it, the writer and the gRPC API carry it.
 */

export type Subscription = 'none' | 'to' | 'from' | 'both';
export type PieHash = 'sha1' | 'sha256';

/** Where something was found: file, 1-based line and column. */
export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** RFC 5802 §3 keys as XEP-0227 `<scram-credentials/>` carries them (raw bytes, decoded). */
export interface PieScram {
  readonly hash: PieHash;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** A jabber:iq:roster item (RFC 6121 §2.1.2). */
export interface PieItem {
  readonly jid: string;
  /** '' for none. */
  readonly name: string;
  readonly subscription: Subscription;
  /** ask='subscribe': the user awaits the contact's answer (RFC 6121 §3.1.2). */
  readonly pendingOut: boolean;
  /** approved='true': pre-approved (RFC 6121 §3.4). */
  readonly approved: boolean;
  readonly groups: readonly string[];
  readonly at?: Location;
}

/** An inbound subscription request not answered yet (RFC 6121 §3.1.3). */
export interface PiePending {
  readonly from: string;
  /** The request's status text, '' for none. */
  readonly status: string;
  readonly at?: Location;
}

export interface PieAccount {
  /** The JID's localpart. */
  readonly username: string;
  /** A plaintext password (`<user password=''>`); hashed on import, never stored. */
  readonly password?: string;
  readonly scram: readonly PieScram[];
  readonly items: readonly PieItem[];
  readonly pendingIn: readonly PiePending[];
  /** XEP-0191 block list: JIDs (bare, full or domains). */
  readonly blocked: readonly string[];
  readonly at?: Location;
}

/** One finding about the input. Errors keep an entry from being applied; warnings do not. */
export interface Problem {
  readonly severity: 'error' | 'warning';
  /** Index of the account in the input, when the problem is about one. */
  readonly account?: number;
  /** The field, relative to the account when `account` is set: `username`, `items[3].jid`, … */
  readonly field: string;
  readonly message: string;
  readonly at?: Location;
}

export const NS_PIE = 'urn:xmpp:pie:0';
export const NS_PIE_SCRAM = 'urn:xmpp:pie:0#scram';
export const NS_XINCLUDE = 'http://www.w3.org/2001/XInclude';
export const NS_ROSTER = 'jabber:iq:roster';
export const NS_PRIVACY = 'jabber:iq:privacy';
export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_CLIENT = 'jabber:client';

export const SCRAM_MECHANISM: Record<PieHash, string> = { sha1: 'SCRAM-SHA-1', sha256: 'SCRAM-SHA-256' };
export const HASH_BYTES: Record<PieHash, number> = { sha1: 20, sha256: 32 };

/** "file:line:column" for messages. */
export function where(at: Location | undefined): string {
  return at === undefined ? '' : `${at.file}:${at.line}:${at.column}`;
}
