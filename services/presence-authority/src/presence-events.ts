import type { NatsConnection } from '@nats-io/transport-node';
import { LRUCache } from 'lru-cache';
import { admin, type cluster } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import type { Logger } from '@vigil/telemetry';
import type { SessionRecord } from './registry.js';

/** What happened to an available resource: it (re)announced its presence, or it went away for a cause. */
export type PresenceChange = 'available' | cluster.EndCause;

/**
 * Where PresenceCore reports each change of an available resource, for
 * WatchPresence. Called in the user's queue right after the XMPP fan-out, so
 * changes of one user are reported in the order contacts saw them.
 */
export interface PresenceEvents {
  changed(record: SessionRecord, change: PresenceChange): void;
}

/** For tests and harnesses that watch nothing. */
export const NO_PRESENCE_EVENTS: PresenceEvents = { changed: () => undefined };

/** A user's position in its stream of changes (the public API's Sequence). */
export interface WatchSequence {
  readonly epoch: number;
  readonly counter: number;
}

/**
 * Users whose change counter is remembered. At the maximum the user whose
 * last change is oldest is forgotten; its next change starts again at 1,
 * which a watcher reads as "you may have missed changes" and resyncs.
 */
const MAX_COUNTERS = 200_000;

/**
 * Publishes every change on `<p>.watch.<hash of the user>`, numbered per user
 * with (epoch of the user's shard, counter within the epoch). A new owner
 * starts counting from 1 under its higher epoch: watchers can always tell that
 * changes may have been lost across a hand-over, and never see a gap go
 * unnoticed within one owner (docs/decisions.md "gRPC API").
 */
export class WatchPublisher implements PresenceEvents {
  /** Packed (packSequence) where it fits, which is always in practice: 16 bytes per user instead of a 40-byte object. */
  readonly #counters = new LRUCache<string, number | WatchSequence>({ max: MAX_COUNTERS });

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    /** The epoch at which this replica owns a shard, undefined when it does not. */
    private readonly epochOf: (shard: number) => number | undefined,
    private readonly wallNowMs: () => number,
    private readonly log: Logger,
  ) {}

  changed(record: SessionRecord, change: PresenceChange): void {
    const epoch = this.epochOf(record.shard);
    if (epoch === undefined) return; // a deposed owner says nothing, as for deliveries
    const current = this.sequenceOf(record.bareJid, epoch);
    const next = { epoch, counter: current.counter + 1 };
    this.#counters.set(record.bareJid, packSequence(next));
    const available = change === 'available';
    const msg: admin.PresenceChanged = {
      session: { sessionId: record.sessionId, fullJid: record.fullJid, nodeId: record.nodeId, incarnation: record.incarnation },
      available,
      presenceXml: available ? record.presenceXml : '',
      priority: available ? record.priority : 0,
      cause: available ? 0 : change,
      epoch,
      counter: next.counter,
      changedAtUnixMs: this.wallNowMs(),
      availableSinceUnixMs: record.availableSinceUnixMs,
    };
    try {
      this.nc.publish(this.subjects.watch(record.bareJid), admin.PresenceChanged.encode(msg).finish());
    } catch (e) {
      // The counter moved anyway: a watcher sees the jump and resyncs.
      this.log.warn('presence change not published', { user: record.bareJid, err: e });
    }
  }

  /** The user's last numbered change under `epoch` (counter 0: none yet). Read in the user's queue. */
  sequenceOf(bareJid: string, epoch: number): WatchSequence {
    const kept = this.#counters.peek(bareJid);
    const seen = kept === undefined ? undefined : unpackSequence(kept);
    return seen !== undefined && seen.epoch === epoch ? seen : { epoch, counter: 0 };
  }
}

/** Counters below this share one number with their epoch (packSequence). */
const COUNTER_LIMIT = 2 ** 21;
/** Epochs below this do (with COUNTER_LIMIT, the product stays below 2^53, exact in a double). */
const EPOCH_LIMIT = 2 ** 32;

/** `s` as one number (epoch × 2^21 + counter) when both fit, exactly; otherwise `s` itself. */
export function packSequence(s: WatchSequence): number | WatchSequence {
  const fits = Number.isInteger(s.epoch) && Number.isInteger(s.counter) && s.epoch >= 0 && s.epoch < EPOCH_LIMIT && s.counter >= 0 && s.counter < COUNTER_LIMIT;
  return fits ? s.epoch * COUNTER_LIMIT + s.counter : s;
}

export function unpackSequence(v: number | WatchSequence): WatchSequence {
  if (typeof v !== 'number') return v;
  const counter = v % COUNTER_LIMIT;
  return { epoch: (v - counter) / COUNTER_LIMIT, counter };
}
