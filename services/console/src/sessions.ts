import { randomBytes } from 'node:crypto';
import type { Scope } from './view.js';

/** A logged-in browser: the token lives here, server-side, never in the page. */
export interface Session {
  readonly id: string;
  readonly token: string;
  readonly scope: Scope;
  lastUsedMs: number;
}

export interface SessionStoreOptions {
  readonly idleMs: number;
  readonly max: number;
  /** Monotonic milliseconds (performance.now in production). */
  readonly now: () => number;
  /** A fresh unguessable id (256 random bits by default). */
  readonly newId?: () => string;
}

/**
 * Browser sessions by cookie id, bounded: at `max` the least recently used is
 * forgotten (that person logs in again), and one unused for `idleMs` is gone
 * at its next lookup. A Map keeps insertion order, so re-inserting on use
 * makes its first key the least recently used.
 */
export class SessionStore {
  readonly #byId = new Map<string, Session>();
  readonly #options: SessionStoreOptions;

  constructor(options: SessionStoreOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#byId.size;
  }

  create(token: string, scope: Scope): Session {
    const id = this.#options.newId?.() ?? randomBytes(32).toString('base64url');
    while (this.#byId.size >= this.#options.max) {
      const oldest = this.#byId.keys().next();
      if (oldest.done === true) break;
      this.#byId.delete(oldest.value);
    }
    const s: Session = { id, token, scope, lastUsedMs: this.#options.now() };
    this.#byId.set(id, s);
    return s;
  }

  /** The live session with this id, marked as used now; undefined when unknown or idle too long. */
  use(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.#byId.get(id);
    if (s === undefined) return undefined;
    const now = this.#options.now();
    this.#byId.delete(id);
    if (now - s.lastUsedMs > this.#options.idleMs) return undefined;
    s.lastUsedMs = now;
    this.#byId.set(id, s);
    return s;
  }

  /** Forgets one session (logout, or the cluster refused its token). */
  end(id: string): void {
    this.#byId.delete(id);
  }
}

export const COOKIE = 'vigil_console';

/** The Set-Cookie value for a session: HttpOnly (no script reads it), SameSite=Strict (no other site sends it). */
export function sessionCookie(id: string, secure: boolean): string {
  return `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** The session id from a Cookie header, if any. */
export function sessionIdFrom(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === COOKIE) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{1,128}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}
