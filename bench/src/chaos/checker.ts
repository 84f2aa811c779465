/**
 * The chaos checker: DESIGN.md's five invariants, as a pure function of what
 * every client received during one trial and what the fault did. It knows
 * nothing of processes or sockets, so it can be tested on made-up traces.
 */
export interface Observation {
  /** Bare JID of the observing user. */
  readonly observer: string;
  /** Full JID of the sender, as received. */
  readonly from: string;
  /** 'available' or 'unavailable' (other types are not availability). */
  readonly type: string;
  /** Monotonic ms. */
  readonly at: number;
}

export interface TrialInput {
  /** Who may see whom: contacts of each user (mutual). */
  readonly contacts: ReadonlyMap<string, ReadonlySet<string>>;
  /** Users whose session the fault ended (must be announced). */
  readonly dead: ReadonlySet<string>;
  /** Users online and untouched by the fault until the end of the trial. */
  readonly live: ReadonlySet<string>;
  /** Each user's full JID during the trial (before any re-login). */
  readonly fullJid: ReadonlyMap<string, string>;
  /** Everything observed after the fault was injected. */
  readonly observations: readonly Observation[];
  /** Monotonic ms of the fault. */
  readonly faultAt: number;
  /** Monotonic ms when each dead user's client saw its stream end (zombie check), if it did. */
  readonly streamEndedAt: ReadonlyMap<string, number>;
  /** Each live observer's last known state of each contact's full JID at the end (convergence). */
  readonly finalView: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly selfFenceMs: number;
  /**
   * When a frozen process (SIGSTOP) was let go: a frozen stream is not a
   * working one, so the zombie clock starts at the later of the
   * announcement and this.
   */
  readonly resumedAt?: number;
}

export interface TrialResult {
  /** Expected (observer, dead user) announcements. */
  readonly expected: number;
  readonly missing: number;
  readonly duplicate: number;
  readonly leaked: number;
  readonly falseOffline: number;
  readonly zombie: number;
  readonly unconverged: number;
  /** Fault to unavailable, per delivered expected announcement (ms). */
  readonly latenciesMs: number[];
  /** A few examples of each violation, for the report. */
  readonly examples: string[];
  /** After an authority kill: ms until its shards all had another owner. */
  readonly reownedMs?: number;
}

const bare = (jid: string): string => jid.split('/')[0] ?? jid;

export function checkTrial(t: TrialInput): TrialResult {
  const examples: string[] = [];
  const note = (s: string) => {
    if (examples.length < 10) examples.push(s);
  };
  let leaked = 0;
  let falseOffline = 0;
  // (observer, sender full JID) → unavailable arrival times
  const unavailable = new Map<string, number[]>();
  for (const o of t.observations) {
    const sender = bare(o.from);
    const allowed = sender === o.observer || (t.contacts.get(o.observer)?.has(sender) ?? false);
    if (!allowed) {
      leaked++;
      note(`leak: ${o.observer} got ${o.type} from ${o.from}`);
    }
    if (o.type !== 'unavailable') continue;
    const key = `${o.observer}|${o.from}`;
    unavailable.set(key, [...(unavailable.get(key) ?? []), o.at]);
    if (t.live.has(sender) && o.from === t.fullJid.get(sender)) {
      falseOffline++;
      note(`false offline: ${o.observer} was told ${o.from} left`);
    } else if (t.dead.has(sender) && o.from === t.fullJid.get(sender) && o.at < t.faultAt) {
      // A scenario that works before its fault (a rolling restart): the user was still alive then.
      falseOffline++;
      note(`false offline: ${o.observer} was told ${o.from} left ${Math.round(t.faultAt - o.at)} ms before the fault`);
    }
  }
  let expected = 0;
  let missing = 0;
  let duplicate = 0;
  const latenciesMs: number[] = [];
  const announcedAt = new Map<string, number>();
  for (const d of t.dead) {
    const jid = t.fullJid.get(d);
    if (jid === undefined) continue;
    for (const observer of t.contacts.get(d) ?? []) {
      if (!t.live.has(observer)) continue;
      expected++;
      const all = unavailable.get(`${observer}|${jid}`) ?? [];
      const times = all.filter((at) => at >= t.faultAt);
      if (all.length > 0 && times.length === 0) continue; // told too early: counted as a false offline above
      if (times.length === 0) {
        missing++;
        note(`ghost: ${observer} never told ${jid} left`);
        continue;
      }
      if (times.length > 1) duplicate += times.length - 1;
      const first = Math.min(...times);
      latenciesMs.push(first - t.faultAt);
      announcedAt.set(d, Math.min(announcedAt.get(d) ?? Infinity, first));
    }
  }
  let zombie = 0;
  for (const [d, at] of announcedAt) {
    const ended = t.streamEndedAt.get(d);
    const working = Math.max(at, t.resumedAt ?? 0);
    if (ended === undefined || ended - working > t.selfFenceMs) {
      zombie++;
      note(`zombie: ${d} kept a working stream ${ended === undefined ? 'to the end' : `${Math.round(ended - working)} ms`} after being announced`);
    }
  }
  let unconverged = 0;
  for (const observer of t.live) {
    const view = t.finalView.get(observer);
    for (const c of t.contacts.get(observer) ?? []) {
      const jid = t.fullJid.get(c);
      if (jid === undefined || (!t.live.has(c) && !t.dead.has(c))) continue;
      const truth = t.live.has(c) ? 'available' : 'unavailable';
      const seen = view?.get(jid) ?? 'unavailable';
      if (seen !== truth) {
        unconverged++;
        note(`unconverged: ${observer} sees ${jid} ${seen}, truth ${truth}`);
      }
    }
  }
  return { expected, missing, duplicate, leaked, falseOffline, zombie, unconverged, latenciesMs, examples };
}
