import type { IncomingMessage, ServerResponse } from 'node:http';
import { status } from '@grpc/grpc-js';
import type { Logger } from '@vigil/telemetry';
import { ClusterApi, isServiceError, statusName } from './cluster-api.js';
import type { ClusterWatch } from './cluster-watch.js';
import { causeFromWord, userView } from './convert.js';
import { HttpError, checkSameOrigin, field, readJson, sendJson } from './http.js';
import { relayPresence } from './presence-feed.js';
import { SessionStore, clearedCookie, sessionCookie, sessionIdFrom, type Session } from './sessions.js';
import { EventStream } from './sse.js';
import type { DemoView, Me } from './view.js';
import type { api } from '@vigil/proto';

/** The dev cluster's demo panel: what the page may log in as, and how to kill a node. Never configured from the environment. */
export interface DemoControl {
  readonly view: DemoView;
  /** SIGKILLs a connection node of the dev cluster (it comes back as a new incarnation); resolves with what happened, for people. */
  killNode(nodeId: string): Promise<string>;
}

export interface RouteContext {
  readonly api: ClusterApi;
  readonly sessions: SessionStore;
  readonly clusterWatch: ClusterWatch;
  readonly domain: string;
  readonly log: Logger;
  readonly demo: DemoControl | undefined;
  /** Open event streams, bounded by maxStreams. */
  readonly streams: Set<EventStream>;
  readonly maxStreams: number;
  readonly secureCookies: boolean;
}

type Handler = (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, params: readonly string[], url: URL) => Promise<void>;
interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: RegExp;
  /**
   * Needs a logged-in session. `api-admin`: the API decides, by the token's
   * scope (the page hides these for read-only logins, but the console does
   * not second-guess the API); `admin`: an action of the console's own (the
   * demo panel), checked here against the scope the API reported at login.
   */
  readonly auth: 'none' | 'read' | 'api-admin' | 'admin';
  readonly handle: Handler;
}

const JID_PART = '([^/]{1,3071})';

/** gRPC status → HTTP status, for the page to tell "refused", "not found" and "try again" apart. */
const HTTP_OF: Readonly<Partial<Record<number, number>>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.UNAUTHENTICATED]: 401,
  [status.PERMISSION_DENIED]: 403,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.FAILED_PRECONDITION]: 409,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.UNAVAILABLE]: 503,
  [status.DEADLINE_EXCEEDED]: 504,
};

/** A gRPC failure as an HttpError that keeps the API's message (it names the field at fault). */
export function fromGrpc(e: unknown): HttpError {
  if (!isServiceError(e)) return new HttpError(500, 'internal', e instanceof Error ? e.message : String(e));
  const http = HTTP_OF[e.code] ?? 502;
  const what =
    e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED
      ? `the cluster cannot be reached right now (${e.details}); try again`
      : e.code === status.PERMISSION_DENIED
        ? `not allowed with this token: ${e.details}`
        : e.details;
  return new HttpError(http, statusName(e.code), what);
}

function currentSession(ctx: RouteContext, req: IncomingMessage): Session | undefined {
  return ctx.sessions.use(sessionIdFrom(req.headers.cookie));
}

/** A bare JID from the path, checked to be of the cluster's domain. */
function bareJid(raw: string): string {
  let jid: string;
  try {
    jid = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'bad-request', 'jid: not a valid URL component');
  }
  if (!/^[^@/\s]+@[^@/\s]+$/.test(jid)) throw new HttpError(400, 'bad-request', `jid: a bare JID (user@domain) expected, got ${JSON.stringify(jid)}`);
  return jid;
}

function localPart(ctx: RouteContext, jid: string): string {
  const at = jid.indexOf('@');
  if (jid.slice(at + 1) !== ctx.domain) throw new HttpError(400, 'bad-request', `jid: this cluster serves ${ctx.domain}, not ${jid.slice(at + 1)}`);
  return jid.slice(0, at);
}

const me: Handler = async (ctx, req, res) => {
  const s = currentSession(ctx, req) as Session;
  const body: Me = { scope: s.scope, demo: ctx.demo?.view };
  sendJson(res, 200, body);
};

const login: Handler = async (ctx, req, res) => {
  const body = await readJson(req);
  const token = field(body, 'token', { required: true, max: 1024 });
  if (/\s/.test(token)) throw new HttpError(400, 'bad-request', 'token: a token has no spaces');
  let scope;
  try {
    scope = await ctx.api.scopeOf(token);
  } catch (e) {
    if (isServiceError(e) && e.code === status.UNAUTHENTICATED) {
      // Never the token itself: where the attempt came from is what an operator needs.
      ctx.log.warn('console login refused', { remote: req.socket.remoteAddress });
      throw new HttpError(401, 'token-refused', 'The cluster refused this token: it is wrong, or no longer valid.');
    }
    throw fromGrpc(e);
  }
  const old = sessionIdFrom(req.headers.cookie);
  if (old !== undefined) ctx.sessions.end(old);
  const s = ctx.sessions.create(token, scope);
  ctx.log.info('console login', { scope });
  res.setHeader('Set-Cookie', sessionCookie(s.id, ctx.secureCookies));
  const out: Me = { scope, demo: ctx.demo?.view };
  sendJson(res, 200, out);
};

const logout: Handler = async (ctx, req, res) => {
  const id = sessionIdFrom(req.headers.cookie);
  if (id !== undefined) ctx.sessions.end(id);
  res.setHeader('Set-Cookie', clearedCookie(ctx.secureCookies));
  sendJson(res, 200, {});
};

function openStream(ctx: RouteContext, res: ServerResponse): EventStream {
  if (ctx.streams.size >= ctx.maxStreams) throw new HttpError(503, 'busy', `the console serves at most ${ctx.maxStreams} live streams; close a tab`);
  const stream = new EventStream(res);
  ctx.streams.add(stream);
  stream.onClose(() => ctx.streams.delete(stream));
  return stream;
}

/** The cluster refused the session's token (removed from the API's configuration): log it out. */
const refuse = (ctx: RouteContext, s: Session, stream: EventStream) => (): void => {
  ctx.sessions.end(s.id);
  stream.send('refused', { error: 'The cluster no longer accepts this token: log in again.', code: 'token-refused' });
  stream.close();
};

const clusterEvents: Handler = async (ctx, req, res) => {
  const s = currentSession(ctx, req) as Session;
  const stream = openStream(ctx, res);
  ctx.clusterWatch.subscribe(s.token, stream, refuse(ctx, s, stream));
};

const presenceEvents: Handler = async (ctx, req, res, _params, url) => {
  const s = currentSession(ctx, req) as Session;
  const jids = url.searchParams.getAll('jid').map((j) => bareJid(encodeURIComponent(j.trim())));
  if (jids.length > 1000) throw new HttpError(400, 'bad-request', 'jid: at most 1000');
  const causes: api.presence.ChangeCause[] = [];
  for (const w of url.searchParams.getAll('cause')) {
    const c = causeFromWord(w);
    if (c === undefined) throw new HttpError(400, 'bad-request', `cause: unknown cause ${JSON.stringify(w)}`);
    causes.push(c);
  }
  const stream = openStream(ctx, res);
  relayPresence(ctx.api, ctx.domain, s.token, { jids, causes }, stream, refuse(ctx, s, stream), ctx.log);
};

/** Runs an API call for the session; a refused token ends the session, so the page shows the login form. */
async function call<T>(ctx: RouteContext, s: Session, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (isServiceError(e) && e.code === status.UNAUTHENTICATED) {
      ctx.sessions.end(s.id);
      throw new HttpError(401, 'token-refused', 'The cluster no longer accepts this token: log in again.');
    }
    throw fromGrpc(e);
  }
}

/** Accounts as bare JIDs, the first page (at most 500). */
const users: Handler = async (ctx, req, res) => {
  const s = currentSession(ctx, req) as Session;
  const { api } = ctx;
  const r = await call(ctx, s, () => api.call(s.token, api.account.listAccounts.bind(api.account), { pageSize: 500, pageToken: '' }));
  sendJson(res, 200, { users: r.usernames.map((u) => `${u}@${ctx.domain}`), more: r.nextPageToken !== '' });
};

const user: Handler = async (ctx, req, res, [raw]) => {
  const s = currentSession(ctx, req) as Session;
  const jid = bareJid(raw ?? '');
  const { api } = ctx;
  const [presence, sessions, roster, lastSeen] = await call(ctx, s, () =>
    Promise.all([
      api.call(s.token, api.presence.getPresence.bind(api.presence), { jid }),
      api.call(s.token, api.presence.listSessions.bind(api.presence), { jid }),
      api.call(s.token, api.roster.getRoster.bind(api.roster), { jid }),
      api.call(s.token, api.presence.getLastSeen.bind(api.presence), { jid }),
    ]),
  );
  sendJson(res, 200, userView(jid, presence, sessions, roster, lastSeen));
};

const kick: Handler = async (ctx, req, res, [raw]) => {
  const s = currentSession(ctx, req) as Session;
  const jid = bareJid(raw ?? '');
  const body = await readJson(req);
  const fullJid = field(body, 'fullJid', { required: true });
  if (!fullJid.startsWith(`${jid}/`)) throw new HttpError(400, 'bad-request', `fullJid: a session of ${jid} expected`);
  const reason = field(body, 'reason', { max: 1024 });
  const { api } = ctx;
  const r = await call(ctx, s, () => api.call(s.token, api.presence.kickSession.bind(api.presence), { fullJid, reason }));
  ctx.log.info('console kicked a session', { user: fullJid, session: r.sessionId });
  sendJson(res, 200, { sessionId: r.sessionId });
};

const addRosterItem: Handler = async (ctx, req, res, [raw]) => {
  const s = currentSession(ctx, req) as Session;
  const jid = bareJid(raw ?? '');
  const body = await readJson(req);
  const contactJid = field(body, 'contact', { required: true });
  const name = field(body, 'name', { max: 1024 });
  const groups = field(body, 'groups')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  const subscribe = body.subscribe === true;
  const { api } = ctx;
  const r = await call(ctx, s, () =>
    api.call(s.token, api.roster.upsertItem.bind(api.roster), { jid, contactJid, name, groups, requestSubscription: subscribe, approveSubscription: false }),
  );
  ctx.log.info('console changed a roster item', { user: jid, contact: contactJid });
  sendJson(res, 200, { version: r.version });
};

const removeRosterItem: Handler = async (ctx, req, res, [raw]) => {
  const s = currentSession(ctx, req) as Session;
  const jid = bareJid(raw ?? '');
  const body = await readJson(req);
  const contactJid = field(body, 'contact', { required: true });
  const { api } = ctx;
  const r = await call(ctx, s, () => api.call(s.token, api.roster.removeItem.bind(api.roster), { jid, contactJid }));
  ctx.log.info('console removed a roster item', { user: jid, contact: contactJid });
  sendJson(res, 200, { version: r.version });
};

const setPassword: Handler = async (ctx, req, res, [raw]) => {
  const s = currentSession(ctx, req) as Session;
  const jid = bareJid(raw ?? '');
  const username = localPart(ctx, jid);
  const body = await readJson(req);
  const password = field(body, 'password', { required: true, trim: false, max: 1024 });
  const { api } = ctx;
  await call(ctx, s, () => api.call(s.token, api.account.setPassword.bind(api.account), { username, password }));
  ctx.log.info('console reset a password', { user: jid });
  sendJson(res, 200, {});
};

const killNode: Handler = async (ctx, req, res) => {
  const demo = ctx.demo;
  if (demo === undefined) throw new HttpError(404, 'not-found', 'no demo panel on this console');
  const body = await readJson(req);
  const nodeId = field(body, 'nodeId', { required: true });
  if (!demo.view.nodes.some((n) => n.nodeId === nodeId)) throw new HttpError(400, 'bad-request', `nodeId: no demo node ${JSON.stringify(nodeId)}`);
  ctx.log.warn('demo panel kills a connection node', { node: nodeId });
  const message = await demo.killNode(nodeId);
  sendJson(res, 200, { message });
};

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: /^\/api\/me$/, auth: 'read', handle: me },
  { method: 'POST', path: /^\/api\/login$/, auth: 'none', handle: login },
  { method: 'POST', path: /^\/api\/logout$/, auth: 'none', handle: logout },
  { method: 'GET', path: /^\/api\/cluster\/events$/, auth: 'read', handle: clusterEvents },
  { method: 'GET', path: /^\/api\/presence\/events$/, auth: 'read', handle: presenceEvents },
  { method: 'GET', path: /^\/api\/users$/, auth: 'read', handle: users },
  { method: 'GET', path: new RegExp(`^/api/users/${JID_PART}$`), auth: 'read', handle: user },
  { method: 'POST', path: new RegExp(`^/api/users/${JID_PART}/kick$`), auth: 'api-admin', handle: kick },
  { method: 'POST', path: new RegExp(`^/api/users/${JID_PART}/roster$`), auth: 'api-admin', handle: addRosterItem },
  { method: 'POST', path: new RegExp(`^/api/users/${JID_PART}/roster/remove$`), auth: 'api-admin', handle: removeRosterItem },
  { method: 'POST', path: new RegExp(`^/api/users/${JID_PART}/password$`), auth: 'api-admin', handle: setPassword },
  { method: 'POST', path: /^\/api\/demo\/kill-node$/, auth: 'admin', handle: killNode },
];

/** Finds and runs the route for an /api/ request; HttpErrors become JSON error answers. */
export async function dispatch(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const matching = ROUTES.filter((r) => r.path.test(url.pathname));
  const route = matching.find((r) => r.method === req.method);
  if (route === undefined) {
    throw matching.length > 0 ? new HttpError(405, 'bad-request', `${req.method ?? ''} is not allowed here`) : new HttpError(404, 'not-found', `no such page: ${url.pathname}`);
  }
  if (route.method === 'POST') checkSameOrigin(req);
  if (route.auth !== 'none') {
    const s = currentSession(ctx, req);
    if (s === undefined) throw new HttpError(401, 'no-session', 'Log in with a token.');
    if (route.auth === 'admin' && s.scope !== 'admin') throw new HttpError(403, 'PERMISSION_DENIED', 'not allowed with this token: it is read-only; this needs an admin token');
  }
  const params = (route.path.exec(url.pathname) ?? []).slice(1);
  await route.handle(ctx, req, res, params, url);
}
