import { status, type ClientReadableStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import type { api } from '@vigil/proto';
import type { Logger } from '@vigil/telemetry';
import { ClusterApi, isServiceError, statusName } from './cluster-api.js';
import { feedEvent } from './convert.js';
import type { EventStream } from './sse.js';
import type { LinkStatus } from './view.js';

/** Backoff between WatchPresence attempts after the stream broke: 1 s, doubling, at most 5 s. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 5000;

export interface FeedRequest {
  /** Bare JIDs; empty: every account (ListAccounts, first 1000, at each (re)connect). */
  readonly jids: readonly string[];
  readonly causes: readonly api.presence.ChangeCause[];
}

/**
 * One browser's live presence feed: a WatchPresence stream relayed as
 * server-sent events (`feed` per snapshot or change, `status` when the link
 * to the cluster breaks or comes back). A broken stream is opened again
 * with backoff; the snapshots that open every stream let the page replace
 * what it showed, so nothing missed meanwhile stays wrong.
 */
export function relayPresence(api: ClusterApi, domain: string, token: string, req: FeedRequest, out: EventStream, onRefused: () => void, log: Logger): void {
  let call: ClientReadableStream<api.presence.WatchPresenceResponse> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retryMs = RETRY_FIRST_MS;
  out.onClose(() => {
    clearTimeout(timer);
    call?.cancel();
  });

  const down = (reason: string): void => {
    if (out.closed) return;
    out.send('status', { connected: false, reason, retryInMs: retryMs } satisfies LinkStatus);
    timer = setTimeout(() => void open(), retryMs);
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
  };

  const jidsToWatch = async (): Promise<string[]> => {
    if (req.jids.length > 0) return [...req.jids];
    const res = await api.call(token, api.account.listAccounts.bind(api.account), { pageSize: 1000, pageToken: '' });
    return res.usernames.map((u) => `${u}@${domain}`);
  };

  const open = async (): Promise<void> => {
    if (out.closed) return;
    let jids: string[];
    try {
      jids = await jidsToWatch();
    } catch (e) {
      if (!isServiceError(e)) return down(e instanceof Error ? e.message : String(e));
      if (e.code === status.UNAUTHENTICATED || e.code === status.PERMISSION_DENIED) return onRefused();
      return down(`${statusName(e.code)}: ${e.details}`);
    }
    if (out.closed) return;
    if (jids.length === 0) {
      out.send('status', { connected: true, reason: '', retryInMs: 0 } satisfies LinkStatus);
      return;
    }
    const c = api.presence.watchPresence({ jids, causes: [...req.causes] }, ClusterApi.metadata(token));
    call = c;
    let error: ServiceError | undefined;
    c.on('metadata', () => {
      retryMs = RETRY_FIRST_MS;
      out.send('status', { connected: true, reason: '', retryInMs: 0 } satisfies LinkStatus);
    });
    c.on('data', (r: api.presence.WatchPresenceResponse) => {
      const e = feedEvent(r);
      if (e !== undefined) out.send('feed', e);
    });
    c.on('error', (e: ServiceError) => {
      error = e;
    });
    // grpc-js emits 'status' once, after 'error' when there is one.
    c.on('status', (s: StatusObject) => {
      if (out.closed || call !== c) return;
      if (s.code === status.UNAUTHENTICATED || s.code === status.PERMISSION_DENIED) return onRefused();
      if (s.code === status.INVALID_ARGUMENT || s.code === status.NOT_FOUND) {
        // The request itself is wrong (a malformed or unknown JID): retrying cannot help.
        out.send('refused', { error: error?.details ?? s.details, code: statusName(s.code) });
        out.close();
        return;
      }
      log.debug('presence watch ended', { code: statusName(s.code), details: s.details });
      down(s.code === status.OK ? 'the cluster ended the stream' : `${statusName(s.code)}: ${s.details}`);
    });
  };
  void open();
}
