import { performance } from 'node:perf_hooks';
import { NoRespondersError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { api, cluster } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import { CounterRate, droppedMessage, type Logger, type MetricsReading, type Rate } from '@vigil/telemetry';
import { FANOUT_KINDS, fanOutTotals, replicaReply, sumReplies, type FanOutKind } from './detection-metrics.js';

export interface MetricsExchangeDeps {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly authorityId: string;
  /** This process's instruments, from its telemetry SDK (the numbers its /metrics shows). */
  readonly read: () => Promise<MetricsReading>;
  /** Authority replicas alive now by their heartbeats, this one included. */
  readonly members: () => readonly string[];
  readonly log: Logger;
  /** Wall clock of the process start, for the replies. */
  readonly startedAtUnixMs?: number;
}

/** How long the asker waits for the other replicas' readings. */
export const GATHER_TIMEOUT_MS = 1000;

/**
 * The detection metrics of every authority replica, for GetDetectionMetrics:
 * each replica answers `<p>.authority.metrics` with its own readings; the one
 * serving the call reads its own in-process, asks the others at once
 * (scatter-gather, waiting for as many replies as there are live members, at
 * most a second) and sums them. Nothing is kept between calls except the
 * samples behind the fan-out rates.
 */
export class MetricsExchange {
  #sub: Subscription | undefined;
  readonly #rates: Record<FanOutKind, CounterRate> = { available: new CounterRate(), unavailable: new CounterRate() };
  readonly #startedAtUnixMs: number;

  constructor(private readonly deps: MetricsExchangeDeps) {
    this.#startedAtUnixMs = deps.startedAtUnixMs ?? Math.round(performance.timeOrigin);
  }

  /** Answers the other replicas' requests. */
  start(): void {
    const { nc, subjects, authorityId, log } = this.deps;
    this.#sub = nc.subscribe(subjects.authorityMetrics, {
      callback: (err, msg) => {
        if (err) return log.error('metrics request subscription failed', { err });
        let req: cluster.AuthorityMetricsRequest;
        try {
          req = cluster.AuthorityMetricsRequest.decode(msg.data);
        } catch (e) {
          return droppedMessage(log, msg.subject, e);
        }
        if (req.fromAuthorityId === authorityId || !msg.reply) return; // the asker reads its own in-process
        this.own().then(
          (reply) => msg.respond(cluster.AuthorityMetricsReply.encode(reply).finish()),
          (e: unknown) => log.error('could not read this replica\'s metrics for a peer', { from: req.fromAuthorityId, err: e }),
        );
      },
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }

  /** This replica's readings now; each call is also a sample of the fan-out rates. */
  async own(): Promise<cluster.AuthorityMetricsReply> {
    const reading = await this.deps.read();
    const totals = fanOutTotals(reading);
    const now = performance.now();
    const rates = Object.fromEntries(FANOUT_KINDS.map((k) => [k, this.#rates[k].sample(now, totals[k])])) as Record<FanOutKind, Rate>;
    return replicaReply(this.deps.authorityId, reading, rates, this.#startedAtUnixMs);
  }

  /** Every live replica's readings, summed; replicas that do not answer in time are named, not waited for. */
  async gather(timeoutMs = GATHER_TIMEOUT_MS): Promise<api.cluster.GetDetectionMetricsResponse> {
    const { nc, subjects, authorityId, log } = this.deps;
    const expected = [...new Set(this.deps.members())].filter((id) => id !== authorityId);
    const own = await this.own();
    const replies: cluster.AuthorityMetricsReply[] = [];
    if (expected.length > 0) {
      try {
        const answers = await nc.requestMany(subjects.authorityMetrics, cluster.AuthorityMetricsRequest.encode({ fromAuthorityId: authorityId }).finish(), {
          strategy: 'count',
          maxMessages: expected.length,
          maxWait: timeoutMs,
        });
        for await (const m of answers) {
          try {
            replies.push(cluster.AuthorityMetricsReply.decode(m.data));
          } catch (e) {
            droppedMessage(log, subjects.authorityMetrics, e); // counted by the request's subject: inboxes are random
          }
        }
      } catch (e) {
        // Nobody else subscribed, or NATS is down: the others are reported unanswered.
        if (!(e instanceof NoRespondersError)) log.warn('could not ask the other replicas for their metrics', { err: e });
      }
    }
    return sumReplies(own, replies, expected, Date.now());
  }
}
