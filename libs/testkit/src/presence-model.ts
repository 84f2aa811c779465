/** What a client received: presence only, as (recipient full JID, sender, type). */
export interface Received {
  readonly to: string;
  readonly from: string;
  /** '' for available. */
  readonly type: string;
}

/**
 * An independent statement of who must receive which presence (RFC 6121 §3,
 * §4; XEP-0191), over plain sets: no rosters, no queues, no KV. The property
 * test runs the same operations here and through the real code and demands
 * the same deliveries, exactly: nothing more (a leak), nothing less (a ghost).
 */
interface ModelSession {
  readonly user: string;
  readonly node: string;
  available: boolean;
  announced: boolean;
  /** Directed-presence targets, as addressed. */
  readonly directed: Set<string>;
  /** Bare JIDs that returned a presence error to this session. */
  readonly errorsFrom: Set<string>;
}

const bare = (jid: string): string => jid.split('/')[0] ?? jid;
const pair = (a: string, b: string): string => `${a}>${b}`;

export class PresenceModel {
  /** `a>b`: a receives b's presence (b's roster shows a as from/both). */
  readonly subs = new Set<string>();
  /** `a>b`: a asked for b's presence, unanswered. */
  readonly pending = new Set<string>();
  /** `b>a`: b pre-approved a. */
  readonly preapproved = new Set<string>();
  /** `a>b`: a blocked b. */
  readonly blocked = new Set<string>();
  readonly sessions = new Map<string, ModelSession>();
  #out: Received[] = [];

  take(): Received[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  bind(full: string, node: string): void {
    this.sessions.set(full, { user: bare(full), node, available: false, announced: false, directed: new Set(), errorsFrom: new Set() });
  }

  isBlocked(a: string, b: string): boolean {
    return this.blocked.has(pair(a, b));
  }

  // --- node delivery rules ---

  #toBare(user: string, from: string, type: string, fromBare: string): void {
    if (fromBare !== '' && this.isBlocked(user, fromBare)) return;
    for (const [full, s] of this.sessions) if (s.user === user && s.available) this.#out.push({ to: full, from, type });
  }

  #toFull(full: string, from: string, type: string, fromBare: string): void {
    if (!this.sessions.has(full)) return;
    if (fromBare !== '' && this.isBlocked(bare(full), fromBare)) return;
    this.#out.push({ to: full, from, type });
  }

  #available(user: string, except?: string): string[] {
    return [...this.sessions].filter(([full, s]) => s.user === user && s.available && full !== except).map(([full]) => full);
  }

  /** Subscribers of `user` that may see this session's broadcast. */
  #subscribers(user: string, s: ModelSession): string[] {
    const users = new Set([...this.subs].map((p) => p.split('>')[0] ?? ''));
    return [...users].filter((a) => a !== user && this.subs.has(pair(a, user)) && !this.isBlocked(user, a) && !s.errorsFrom.has(a));
  }

  /** RFC 6121 §4.4.2, §4.5.2: the broadcast of one session, to subscribers, own resources and (unavailable only) directed targets. */
  #broadcast(full: string, s: ModelSession, type: '' | 'unavailable', echo: boolean): void {
    const subscribers = this.#subscribers(s.user, s);
    for (const a of subscribers) this.#toBare(a, full, type, s.user);
    for (const o of this.#available(s.user, full)) this.#toFull(o, full, type, s.user);
    if (type === 'unavailable') {
      for (const t of s.directed) {
        if (subscribers.includes(bare(t)) || this.isBlocked(s.user, bare(t))) continue;
        if (t.includes('/')) this.#toFull(t, full, type, s.user);
        else this.#toBare(t, full, type, s.user);
      }
    }
    if (echo) this.#toFull(full, full, type, s.user);
  }

  // --- operations ---

  presence(full: string, available: boolean): void {
    const s = this.#s(full);
    s.announced = true;
    if (!available) {
      this.#broadcast(full, s, 'unavailable', true);
      s.available = false;
      s.directed.clear();
      return;
    }
    const initial = !s.available;
    s.available = true;
    this.#broadcast(full, s, '', true);
    if (!initial) return;
    // §4.2.2 probes, answered only for authorized, unblocked probers (§4.3.2).
    for (const p of this.subs) {
      const [a, b] = p.split('>') as [string, string];
      if (a !== s.user || this.isBlocked(s.user, b) || this.isBlocked(b, s.user)) continue;
      for (const x of this.#available(b)) this.#toFull(full, x, '', b);
    }
    for (const o of this.#available(s.user, full)) this.#toFull(full, o, '', s.user);
  }

  directed(full: string, to: string, available: boolean): void {
    const s = this.#s(full);
    s.announced = true;
    if (available) s.directed.add(to);
    else s.directed.delete(to);
    if (this.isBlocked(s.user, bare(to))) return;
    const type = available ? '' : 'unavailable';
    if (to.includes('/')) this.#toFull(to, full, type, s.user);
    else this.#toBare(to, full, type, s.user);
  }

  end(full: string): void {
    const s = this.#s(full);
    this.sessions.delete(full);
    if (s.announced && (s.available || s.directed.size > 0)) this.#broadcast(full, s, 'unavailable', false);
  }

  nodeCrash(node: string): void {
    const dead = [...this.sessions].filter(([, s]) => s.node === node);
    for (const [full] of dead) this.sessions.delete(full);
    for (const [full, s] of dead) if (s.announced && (s.available || s.directed.size > 0)) this.#broadcast(full, s, 'unavailable', false);
  }

  /**
   * §4.4.2 concerns errors answering presence the session sent; a session
   * that has announced nothing has no record at its owner, and an error
   * addressed to it is dropped there.
   */
  presenceError(fromFull: string, toFull: string): void {
    const s = this.sessions.get(toFull);
    if (s?.announced) s.errorsFrom.add(bare(fromFull));
  }

  /** The user `full` belongs to sends a subscription stanza about `contact` (both servers' halves). */
  subscription(full: string, contact: string, type: 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed'): void {
    const u = this.#s(full).user;
    this.#s(full).announced = true;
    switch (type) {
      case 'subscribe':
        if (this.subs.has(pair(u, contact))) {
          this.#approvedPresence(contact, u); // §3.1.3: already subscribed, the contact's server answers again
          return;
        }
        if (this.preapproved.has(pair(contact, u))) {
          this.preapproved.delete(pair(contact, u));
          this.pending.delete(pair(u, contact));
          this.subs.add(pair(u, contact));
          this.#approvedPresence(contact, u);
          return;
        }
        this.pending.add(pair(u, contact));
        return;
      case 'subscribed':
        if (this.pending.has(pair(contact, u))) {
          this.pending.delete(pair(contact, u));
          this.subs.add(pair(contact, u));
          this.#approvedPresence(u, contact);
        } else if (!this.subs.has(pair(contact, u))) {
          this.preapproved.add(pair(u, contact));
        }
        return;
      case 'unsubscribe': {
        this.pending.delete(pair(u, contact));
        if (!this.subs.delete(pair(u, contact))) return;
        // §3.3.3: the contact's resources go offline for the user.
        for (const x of this.#available(contact)) this.#toBare(u, x, 'unavailable', contact);
        return;
      }
      case 'unsubscribed': {
        this.preapproved.delete(pair(u, contact));
        this.pending.delete(pair(contact, u));
        if (!this.subs.delete(pair(contact, u))) return;
        // §3.2.2: the user's resources go offline for the contact, and §3.2.3 the contact sees the user as offline.
        for (const x of this.#available(u)) this.#toBare(contact, x, 'unavailable', u);
        for (const x of this.#available(contact)) this.#toFull(x, u, 'unavailable', u);
        return;
      }
    }
  }

  block(full: string, target: string, kind: 'block' | 'unblock'): void {
    const u = this.#s(full).user;
    if (kind === 'block') {
      if (this.isBlocked(u, target)) return;
      const directedTo = [...this.sessions.values()].some((s) => s.user === u && s.directed.has(target));
      this.blocked.add(pair(u, target));
      // XEP-0191 §3.3: the blocked entity sees the user go offline; the user stops seeing it.
      if (this.subs.has(pair(target, u)) || directedTo) {
        for (const x of this.#available(u)) this.#toBare(target, x, 'unavailable', u);
      }
      if (this.subs.has(pair(u, target))) for (const x of this.#available(u)) this.#toFull(x, target, 'unavailable', '');
      return;
    }
    if (!this.isBlocked(u, target)) return;
    this.blocked.delete(pair(u, target));
    if (this.subs.has(pair(target, u))) for (const x of this.#available(u)) this.#toBare(target, x, '', u);
    if (this.subs.has(pair(u, target)) && !this.isBlocked(target, u)) {
      for (const x of this.#available(u)) for (const y of this.#available(target)) this.#toFull(x, y, '', target);
    }
  }

  /** §3.1.5: after approval the approver's resources show themselves to the new subscriber. */
  #approvedPresence(approver: string, subscriber: string): void {
    for (const x of this.#available(approver)) this.#toBare(subscriber, x, '', approver);
  }

  #s(full: string): ModelSession {
    const s = this.sessions.get(full);
    if (!s) throw new Error(`model: no session ${full}`);
    return s;
  }
}
