import { LRUCache } from 'lru-cache';

/**
 * Why the owner ended a session itself, before its node's own 'ended'
 * event: `kicked` (KickSession, or replaced by a newer session with the
 * same resource) or `deleted` (its account was deleted).
 */
export type FenceReason = 'kicked' | 'deleted';

/** The kinds of event a fenced session may still have on their way. */
export type FencedEventKind = 'presence' | 'directed' | 'subscription' | 'iq';

/**
 * Sessions the owner ended itself, whose events may still be waiting in
 * the user's queue (sent before the stream ended, queued behind the kick or
 * the deletion). Without this their turn would bring the session back: a
 * presence makes a record for an unknown session. A kicked session's
 * presence and directed presence are dropped; a deleted account's session
 * loses everything, its subscription requests and iqs too, which would
 * otherwise write the deleted user's roster again. A kicked session's
 * subscription and iq stand: they are about the user, who still exists, and
 * were accepted before the kick.
 *
 * Bounded (an LRU): a fenced event is one that was already in flight, so it
 * arrives within moments; session ids are random and never reused.
 */
export class SessionFence {
  /** Kicked and replaced sessions. Apart from #deleted: a storm of replacements (a node's clients reconnecting elsewhere) must not push a deletion's fence out. */
  readonly #kicked: LRUCache<string, true>;
  /** Sessions of deleted accounts (deletions are rare: this one is not pushed out by anything else). */
  readonly #deleted: LRUCache<string, true>;
  /**
   * Users whose account was deleted here. A login that authenticated before
   * the deletion and binds after it is in no node's answer to the deletion;
   * its bind asks the owner for the block list, and for these users the
   * owner reads the account first and refuses a bind of one that is gone.
   */
  readonly #deletedUsers: LRUCache<string, true>;

  constructor(maxEntries: number) {
    this.#kicked = new LRUCache({ max: maxEntries });
    this.#deleted = new LRUCache({ max: maxEntries });
    this.#deletedUsers = new LRUCache({ max: maxEntries });
  }

  userDeleted(bareJid: string): void {
    this.#deletedUsers.set(bareJid, true);
  }

  /** Whether the user's account was deleted here (it may have been created again since: read the store). */
  wasDeleted(bareJid: string): boolean {
    return this.#deletedUsers.size > 0 && this.#deletedUsers.has(bareJid);
  }

  /** The account exists again: its binds go the usual way. */
  recreated(bareJid: string): void {
    this.#deletedUsers.delete(bareJid);
  }

  fence(sessionId: string, reason: FenceReason): void {
    (reason === 'deleted' ? this.#deleted : this.#kicked).set(sessionId, true);
  }

  /** Whether the owner ended the session itself. */
  ended(sessionId: string): boolean {
    return this.size > 0 && (this.#kicked.has(sessionId) || this.#deleted.has(sessionId));
  }

  /** Whether an event of this kind from the session is to be dropped. */
  drops(sessionId: string, kind: FencedEventKind): boolean {
    if (this.#deleted.has(sessionId)) return true;
    return (kind === 'presence' || kind === 'directed') && this.#kicked.has(sessionId);
  }

  /** Sessions fenced (kicked or replaced, and of deleted accounts). */
  get size(): number {
    return this.#kicked.size + this.#deleted.size;
  }
}
