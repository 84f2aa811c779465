import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { session, userPresence } from './convert.js';
import { ApiError } from './errors.js';
import { asApiError, authenticateStream, unary, type HandlerContext } from './handlers.js';
import { accountJid, checkBatch } from './jids.js';
import type { OwnerClient } from './owner-client.js';
import { WatchStream, type WatchHub } from './watch.js';

const MAX_KICK_REASON = 1024;

export interface PresenceServiceDeps extends HandlerContext {
  readonly owners: OwnerClient;
  readonly domain: string;
  readonly hub: WatchHub;
  readonly watchBufferEvents: number;
  readonly maxWatchStreams: number;
}

/** vigil.presence.v1.PresenceService: validates, forwards to the shard owners, shapes the answers. */
export function presenceService(d: PresenceServiceDeps): api.presence.PresenceServiceServer {
  const jidOf = (raw: string, field: string, rule: 'bare' | 'full' | 'either') => accountJid(raw, field, d.domain, rule);
  return {
    getPresence: unary(d, 'GetPresence', 'read', async (req: api.presence.GetPresenceRequest, call) => {
      const j = jidOf(req.jid, 'jid', 'either');
      const users = await d.owners.presence([j.toBareString()], call.getDeadline());
      const u = users.get(j.toBareString());
      if (u === undefined) throw ApiError.notFound('account', j.toBareString());
      return { presence: userPresence(u, j.toString()) };
    }),

    batchGetPresence: unary(d, 'BatchGetPresence', 'read', async (req: api.presence.BatchGetPresenceRequest, call) => {
      checkBatch(req.jids, 'jids');
      const jids = req.jids.map((raw, i) => jidOf(raw, `jids[${i}]`, 'either'));
      const users = await d.owners.presence(jids.map((j) => j.toBareString()), call.getDeadline());
      const presences = jids.map((j) => {
        const u = users.get(j.toBareString());
        if (u === undefined) throw ApiError.notFound('account', j.toBareString());
        return userPresence(u, j.toString());
      });
      return { presences };
    }),

    watchPresence: (call: ServerWritableStream<api.presence.WatchPresenceRequest, api.presence.WatchPresenceResponse>) => {
      try {
        authenticateStream(d, call.metadata, 'read');
        const req = call.request;
        checkBatch(req.jids, 'jids');
        const jids = [...new Set(req.jids.map((raw, i) => jidOf(raw, `jids[${i}]`, 'bare').toString()))];
        const causes = new Set(req.causes.map((c, i) => checkCause(c, `causes[${i}]`)));
        if (d.hub.streamCount >= d.maxWatchStreams) {
          throw new ApiError(status.RESOURCE_EXHAUSTED, `this replica serves ${d.maxWatchStreams} watch streams already; try later or another replica`);
        }
        const stream = new WatchStream(call, jids, causes, d.watchBufferEvents, d.hub, d.log);
        void stream.start(d.owners);
      } catch (e) {
        call.emit('error', asApiError(e, d.log, 'WatchPresence').toStatus());
      }
    },

    listSessions: unary(d, 'ListSessions', 'read', async (req: api.presence.ListSessionsRequest, call) => {
      const j = jidOf(req.jid, 'jid', 'bare').toString();
      const u = (await d.owners.presence([j], call.getDeadline())).get(j);
      if (u === undefined) throw ApiError.notFound('account', j);
      return { sessions: u.sessions.map(session) };
    }),

    kickSession: unary(d, 'KickSession', 'admin', async (req: api.presence.KickSessionRequest, call) => {
      const j = jidOf(req.fullJid, 'full_jid', 'full');
      if (req.reason.length > MAX_KICK_REASON) throw ApiError.invalid('reason', `at most ${MAX_KICK_REASON} characters`);
      const text = req.reason === '' ? 'kicked by an administrator' : req.reason;
      const a = await d.owners.ask(d.owners.shardOf(j.toBareString()), { $case: 'kick', kick: { fullJid: j.toString(), text } }, 'kick', call.getDeadline());
      d.log.info('session kicked through the API', { user: j.toString(), session: a.kick.sessionId });
      return { sessionId: a.kick.sessionId };
    }),

    getLastSeen: unary(d, 'GetLastSeen', 'read', async (req: api.presence.GetLastSeenRequest, call) => {
      const j = jidOf(req.jid, 'jid', 'bare').toString();
      const a = await d.owners.ask(d.owners.shardOf(j), { $case: 'lastSeen', lastSeen: { bareJid: j } }, 'lastSeen', call.getDeadline());
      const s = a.lastSeen;
      return { online: s.online, lastSeenUnixMs: s.online ? 0 : s.unixMs, status: s.online ? '' : s.status, neverSeen: !s.online && !s.seen };
    }),
  };
}

const KNOWN_CAUSES = new Set<number>(Object.values(api.presence.ChangeCause).filter((v) => v > 0));

/** An enum value this server knows, or INVALID_ARGUMENT naming the field (proto3 keeps unknown numbers as they came). */
function checkCause(c: number, field: string): number {
  if (!KNOWN_CAUSES.has(c)) throw ApiError.invalid(field, `unknown ChangeCause ${c}`);
  return c;
}
