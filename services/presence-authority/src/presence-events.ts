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
  readonly #counters = new LRUCache<string, WatchSequence>({ max: MAX_COUNTERS });

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
    this.#counters.set(record.bareJid, next);
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
    const seen = this.#counters.peek(bareJid);
    return seen !== undefined && seen.epoch === epoch ? seen : { epoch, counter: 0 };
  }
}
