/**
 * A lean XMPP client over raw TCP (RFC 6120 / 6121) for load generation:
 * thousands of these live in one process, so each holds a socket, a stream
 * parser and a small presence log, and nothing else that grows.
 *
 * login(): connect, stream header, SASL (SCRAM-SHA-256, SCRAM-SHA-1 or
 * PLAIN), stream restart, resource binding, optional roster get, initial
 * presence. Afterwards every stanza is counted and stamped with the
 * performance.now() of the socket read that carried it; presence keeps
 * from + type + time. Server pings are answered, as a real client would.
 *
 * What the server sends is read by a StanzaReader: a scanner for plain XML
 * that hands childless presence over as from + type without building an
 * element, with the full StreamParser behind it for anything else. After
 * login, anything a scenario did not ask for is a problem (`problems`): a
 * stream error, input that is not well-formed, a presence, message or iq
 * of type error, an iq answer nobody waits for, an unknown top-level
 * element. Scenarios fail a trial that has any.
 */
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { escapeAttr, escapeText, NS, type Element } from '@vigil/xmpp';
import { ConnectionClosedError, PresenceLog, type PresenceRecord } from './presence-log.js';
import { authenticate, conditionOf, LoginError, type LoginStage, type SaslMechanism } from './sasl-client.js';
import { StanzaReader, type StanzaReaderHandlers } from './stanza-reader.js';

export interface RawClientOptions {
  readonly host?: string;
  readonly port: number;
  readonly domain: string;
  readonly username: string;
  readonly password: string;
  /** Requested resource; the server picks one when absent (RFC 6120 §7.6). */
  readonly resource?: string;
  /** Default SCRAM-SHA-256. PLAIN needs TLS or VIGIL_ALLOW_PLAIN_WITHOUT_TLS on the node. */
  readonly mechanism?: SaslMechanism;
  /** Fetch the roster after binding, as clients do before sending presence (RFC 6121 §2.2). Default false. */
  readonly rosterGet?: boolean;
  /** Send initial presence at the end of login(). Default true. */
  readonly initialPresence?: boolean;
  /** Whole login, connect to initial presence. Default 15 s. */
  readonly loginTimeoutMs?: number;
  /** Presence records kept (oldest dropped). Default 32. */
  readonly maxPresences?: number;
  /** XEP-0368 direct TLS to `port`, trusting this certificate (PEM); absent: plain TCP. */
  readonly tlsCa?: string;
}

export interface StanzaCounts {
  presence: number;
  message: number;
  iq: number;
  other: number;
}

/** Stanzas buffered while login() waits for the next step; more means the server is not following the protocol. */
const MAX_LOGIN_INBOX = 32;
/** iq requests in flight after login; more is a bug in the scenario. */
const MAX_PENDING_IQS = 16;
/** Problems kept per client (all are counted). */
const MAX_PROBLEMS_KEPT = 8;

export type RawClientPhase = 'idle' | 'negotiating' | 'live' | 'closing' | 'closed';

interface InboxWaiter {
  readonly resolve: (e: Element) => void;
  readonly reject: (e: Error) => void;
}

function flushClient(client: RawXmppClient): void {
  client.flushPending();
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
}

function isStreamElement(e: Element, local: string): boolean {
  return e.ns === NS.stream && localName(e.name) === local;
}

export class RawXmppClient {
  readonly presences: PresenceLog;
  readonly counts: StanzaCounts = { presence: 0, message: 0, iq: 0, other: 0 };
  /** The full JID the server bound; empty before login() succeeds. */
  jid = '';
  /** performance.now() at connect start and at the end of login(). */
  loginStartedAt = 0;
  loggedInAt = 0;
  /** performance.now() of the socket read that carried the last stanza. */
  lastStanzaAt = 0;
  /** performance.now() of the last write to the socket. */
  lastSentAt = 0;
  /** The server's stream error condition, if it ended the stream with one. */
  streamError: string | undefined;
  /** What went wrong after login, oldest first (at most 8 kept; `problemCount` counts all). See the file comment. */
  readonly problems: string[] = [];
  problemCount = 0;
  readonly closed: Promise<void>;

  readonly #opts: RawClientOptions;
  #phase: RawClientPhase = 'idle';
  #socket: Socket | undefined;
  /** Restarted at each stream (re)start, RFC 6120 §4.3.3. */
  readonly #reader: StanzaReader;
  /** Why the connection ended, when the server or its input ended it: named in the errors of waits it cuts short. */
  #endReason: string | undefined;
  #readAt = 0;
  readonly #inbox: Element[] = [];
  #inboxWaiter: InboxWaiter | undefined;
  #loginPending = false;
  #loginFailure: LoginError | undefined;
  readonly #iqs = new Map<string, (e: Element) => void>();
  #nextId = 0;
  #markClosed: () => void = () => undefined;
  #silent = false;

  constructor(options: RawClientOptions) {
    this.#opts = options;
    this.presences = new PresenceLog(options.maxPresences ?? 32);
    this.#reader = new StanzaReader(this.#readerHandlers());
    this.closed = new Promise((resolve) => {
      this.#markClosed = resolve;
    });
  }

  get phase(): RawClientPhase {
    return this.#phase;
  }

  async login(): Promise<string> {
    if (this.#phase !== 'idle') throw new LoginError('connect', `login() called in phase ${this.#phase}`);
    this.#phase = 'negotiating';
    this.#loginPending = true;
    this.loginStartedAt = performance.now();
    const timeoutMs = this.#opts.loginTimeoutMs ?? 15_000;
    const timer = setTimeout(() => this.#failLogin(new LoginError('timeout', `not logged in after ${timeoutMs} ms`)), timeoutMs);
    try {
      await this.#connect();
      const features = await this.#openStream('stream');
      const io = { send: (xml: string) => this.send(xml), next: () => this.#next() };
      await authenticate(features, this.#opts.mechanism ?? 'SCRAM-SHA-256', this.#opts.username, this.#opts.password, io);
      const restarted = await this.#openStream('bind');
      if (restarted.getChild('bind', NS.bind) === undefined) throw new LoginError('bind', 'server offers no resource binding');
      this.jid = await this.#bind();
      this.#goLive();
      // Roster get and initial presence leave together, in that order (as clients that pipeline do): the
      // server handles a stream's stanzas in order, so the roster still comes back before any presence.
      const roster = this.#opts.rosterGet === true ? this.#rosterGet() : undefined;
      if (this.#opts.initialPresence !== false) this.sendPresence();
      if (roster !== undefined) await roster;
      this.loggedInAt = performance.now();
      return this.jid;
    } catch (e) {
      this.destroy();
      if (e instanceof LoginError) throw e;
      throw this.#loginFailure ?? new LoginError('stream', e instanceof Error ? e.message : String(e));
    } finally {
      this.#loginPending = false;
      clearTimeout(timer);
    }
  }

  /** Broadcast presence (no `to`), or directed presence; `type` absent means available. */
  sendPresence(options: { type?: string; to?: string; show?: string; status?: string; priority?: number } = {}): void {
    let attrs = '';
    if (options.to !== undefined) attrs += ` to='${escapeAttr(options.to)}'`;
    if (options.type !== undefined) attrs += ` type='${escapeAttr(options.type)}'`;
    let body = '';
    if (options.show !== undefined) body += `<show>${escapeText(options.show)}</show>`;
    if (options.status !== undefined) body += `<status>${escapeText(options.status)}</status>`;
    if (options.priority !== undefined) body += `<priority>${options.priority}</priority>`;
    this.send(body === '' ? `<presence${attrs}/>` : `<presence${attrs}>${body}</presence>`);
  }

  /** Raw XML on the stream; dropped silently once the connection is closing or the client went silent. */
  send(xml: string): void {
    if (this.#silent) return;
    const socket = this.#socket;
    if ((this.#phase === 'live' || this.#phase === 'negotiating') && socket?.writable === true) {
      // What is sent in one tick goes out in one write (one syscall on a machine the servers share),
      // joined here rather than gathered by a corked socket.
      if (this.#pending === '') process.nextTick(flushClient, this);
      this.#pending += xml;
      this.lastSentAt = performance.now();
    }
  }

  /** Text sent in this tick, written at its end (see send). */
  #pending = '';

  /** @internal Writes what was sent in this tick. */
  flushPending(): void {
    const text = this.#pending;
    this.#pending = '';
    const socket = this.#socket;
    if (text !== '' && socket?.writable === true && !this.#silent) socket.write(text);
  }

  /**
   * The device vanishes without closing TCP (a phone out of coverage, a cut
   * cable): from now on nothing is read (the socket is paused, so the
   * kernel's buffers fill) and nothing is written, pings included. The
   * socket stays open until the server gives up on it or destroy().
   */
  goSilent(): void {
    this.#silent = true;
    this.#socket?.pause();
  }

  /** See PresenceLog.waitFor: a presence from `from` of `type` (default 'available') by a deadline. */
  waitForPresence(from: string, type = 'available', timeoutMs = 10_000, since = 0): Promise<PresenceRecord> {
    return this.presences.waitFor(from, type, timeoutMs, since);
  }

  /**
   * Abrupt end, as when the client process dies: no unavailable, no stream
   * close. 'fin' closes the socket normally (what the kernel does for a
   * killed process); 'rst' resets it (SO_LINGER 0).
   */
  destroy(how: 'fin' | 'rst' = 'fin'): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    const socket = this.#socket;
    if (socket === undefined) this.#onClose();
    else if (how === 'rst' && !socket.destroyed && !socket.connecting) socket.resetAndDestroy();
    else socket.destroy();
  }

  /** Graceful end (RFC 6120 §4.4): close the stream, let the server answer and close, else destroy at the deadline. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.#phase === 'closing') return this.closed;
    if (this.#phase !== 'live') {
      this.destroy();
      return this.closed;
    }
    this.#phase = 'closing';
    this.flushPending();
    this.#socket?.write('</stream:stream>');
    const timer = setTimeout(() => this.destroy(), timeoutMs);
    await this.closed;
    clearTimeout(timer);
  }

  #readerHandlers(): StanzaReaderHandlers {
    return {
      onStreamOpen: () => undefined,
      onStanza: (stanza) => this.#onStanza(stanza),
      onPresence: (from, type) => {
        this.lastStanzaAt = this.#readAt;
        this.#onPresence(from ?? '', type ?? 'available', undefined);
      },
      onStreamClose: () => this.#onStreamClose(),
      onError: (message) => {
        this.streamError ??= 'client-side parse error';
        this.#endReason ??= `server output is not a well-formed XMPP stream: ${message}`;
        this.#problem(this.#endReason);
        this.#failLogin(new LoginError('stream', `server output refused by the parser: ${message}`));
        this.destroy();
      },
    };
  }

  /** Logged after login; during login the LoginError says it. */
  #problem(text: string): void {
    if (this.#phase === 'negotiating' || this.#phase === 'idle') return;
    this.problemCount += 1;
    if (this.problems.length < MAX_PROBLEMS_KEPT) this.problems.push(text);
  }

  #connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const host = this.#opts.host ?? '127.0.0.1';
      const tls = this.#opts.tlsCa;
      const socket = tls === undefined
        ? createConnection({ host, port: this.#opts.port, noDelay: true })
        : tlsConnect({ host, port: this.#opts.port, ca: tls, servername: this.#opts.domain });
      this.#socket = socket;
      // Until connected: either settles the promise. Removed then, so a later close builds no error (stack trace included).
      const onError = (e: Error) => reject(new LoginError('connect', e.message));
      const onEarlyClose = () => reject(this.#loginFailure ?? new LoginError('connect', 'connection closed before it was established'));
      socket.once('error', onError);
      socket.once('close', onEarlyClose);
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        socket.off('error', onError);
        socket.off('close', onEarlyClose);
        resolve();
      });
      socket.on('data', (chunk: Buffer) => {
        this.#readAt = performance.now();
        this.#reader.write(chunk);
      });
      // Errors end in 'close'; the reason does not matter to a load generator.
      socket.on('error', () => undefined);
      socket.once('close', () => this.#onClose());
    });
  }

  /** RFC 6120 §4.2 (and §6.4.6 after SASL): a new stream header, a new parser, and the server's features. */
  async #openStream(stage: LoginStage): Promise<Element> {
    this.#reader.restart();
    this.send(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' ` +
        `to='${escapeAttr(this.#opts.domain)}' version='1.0'>`,
    );
    const features = await this.#next();
    if (!isStreamElement(features, 'features')) throw new LoginError(stage, `expected <stream:features/>, got <${features.name}/>`);
    return features;
  }

  async #bind(): Promise<string> {
    const id = `bind${this.#nextId++}`;
    const resource = this.#opts.resource === undefined ? '' : `<resource>${escapeText(this.#opts.resource)}</resource>`;
    this.send(`<iq type='set' id='${id}'><bind xmlns='${NS.bind}'>${resource}</bind></iq>`);
    const reply = await this.#next();
    if (reply.name !== 'iq' || reply.attr('id') !== id) throw new LoginError('bind', `expected the bind result, got <${reply.name}/>`);
    if (reply.attr('type') !== 'result') {
      const error = reply.getChild('error');
      const condition = error === undefined ? undefined : conditionOf(error, NS.stanzas);
      throw new LoginError('bind', `bind refused (${condition ?? 'no condition'})`, condition);
    }
    const jid = reply.getChild('bind', NS.bind)?.getChildText('jid')?.trim() ?? '';
    if (jid === '') throw new LoginError('bind', 'bind result carries no JID');
    return jid;
  }

  async #rosterGet(): Promise<void> {
    if (this.#iqs.size >= MAX_PENDING_IQS) throw new LoginError('roster', 'too many iq requests in flight');
    const id = `roster${this.#nextId++}`;
    const reply = new Promise<Element>((resolve) => this.#iqs.set(id, resolve));
    this.send(`<iq type='get' id='${id}'><query xmlns='${NS.roster}'/></iq>`);
    // login()'s own timer bounds this wait; it destroys the socket, which rejects below.
    const result = await Promise.race([reply, this.closed.then(() => undefined)]);
    this.#iqs.delete(id);
    if (result === undefined) throw this.#loginFailure ?? new LoginError('closed', 'connection closed during roster get');
    if (result.attr('type') !== 'result') throw new LoginError('roster', 'roster get refused');
  }

  /** Login is over: stanzas go to dispatch from now on. */
  #goLive(): void {
    this.#phase = 'live';
    this.#reader.fastPresence = true;
    for (const stanza of this.#inbox.splice(0)) this.#dispatch(stanza);
  }

  #next(): Promise<Element> {
    const queued = this.#inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#loginFailure !== undefined) return Promise.reject(this.#loginFailure);
    if (this.#phase === 'closed') return Promise.reject(new LoginError('closed', 'connection closed during login'));
    return new Promise((resolve, reject) => {
      this.#inboxWaiter = { resolve, reject };
    });
  }

  /** Ends a login in progress: the step it waits on fails with the first reason, and the socket goes. */
  #failLogin(error: LoginError): void {
    if (!this.#loginPending) return;
    this.#loginFailure ??= error;
    const waiter = this.#inboxWaiter;
    this.#inboxWaiter = undefined;
    waiter?.reject(this.#loginFailure);
    this.destroy();
  }

  #onStanza(stanza: Element): void {
    this.lastStanzaAt = this.#readAt;
    if (isStreamElement(stanza, 'error')) {
      this.streamError = conditionOf(stanza, NS.streams) ?? 'undefined-condition';
      const text = stanza.getChildText('text', NS.streams);
      this.#endReason ??= `stream error ${this.streamError}${text === undefined ? '' : ` (${text})`}`;
      this.#problem(this.#endReason);
      this.#failLogin(new LoginError('stream', `stream error ${this.streamError}`, this.streamError));
      this.destroy();
      return;
    }
    if (this.#phase === 'negotiating') {
      const waiter = this.#inboxWaiter;
      this.#inboxWaiter = undefined;
      if (waiter !== undefined) return waiter.resolve(stanza);
      if (this.#inbox.length >= MAX_LOGIN_INBOX) return this.#failLogin(new LoginError('stream', 'server sent too much during login'));
      this.#inbox.push(stanza);
      return;
    }
    this.#dispatch(stanza);
  }

  #dispatch(stanza: Element): void {
    switch (stanza.name) {
      case 'presence':
        return this.#onPresence(stanza.attr('from') ?? '', stanza.attr('type') ?? 'available', stanza);
      case 'message':
        this.counts.message += 1;
        if (stanza.attr('type') === 'error') this.#problem(`message error from ${stanza.attr('from') ?? '(no from)'}: ${stanzaCondition(stanza)}`);
        return;
      case 'iq':
        this.counts.iq += 1;
        return this.#onIq(stanza);
      default:
        this.counts.other += 1;
        this.#problem(`unexpected top-level element <${stanza.name}/> in ${stanza.ns || 'no namespace'}`);
    }
  }

  #onPresence(from: string, type: string, stanza: Element | undefined): void {
    this.counts.presence += 1;
    if (type === 'error') this.#problem(`presence error from ${from || '(no from)'}: ${stanza === undefined ? 'no condition' : stanzaCondition(stanza)}`);
    this.presences.record(from, type, this.#readAt);
  }

  #onIq(iq: Element): void {
    const type = iq.attr('type');
    const id = iq.attr('id') ?? '';
    if (type === 'result' || type === 'error') {
      const waiter = this.#iqs.get(id);
      if (waiter === undefined) return this.#problem(`iq ${type} with id ${JSON.stringify(id)} that no request is waiting for${type === 'error' ? `: ${stanzaCondition(iq)}` : ''}`);
      this.#iqs.delete(id);
      waiter(iq);
      return;
    }
    const from = iq.attr('from');
    const to = from === undefined ? '' : ` to='${escapeAttr(from)}'`;
    // XEP-0199: answer pings so the server's liveness check sees a live client.
    if (iq.getChild('ping', NS.ping) !== undefined) return this.send(`<iq type='result' id='${escapeAttr(id)}'${to}/>`);
    // RFC 6120 §8.4: an entity that does not understand a request answers service-unavailable.
    this.send(
      `<iq type='error' id='${escapeAttr(id)}'${to}><error type='cancel'>` +
        `<service-unavailable xmlns='${NS.stanzas}'/></error></iq>`,
    );
  }

  #onStreamClose(): void {
    this.#endReason ??= 'the server closed the stream';
    // RFC 6120 §4.4: answer the server's close with ours (unless we started), then the TCP close follows.
    if (this.#phase === 'live') {
      this.flushPending();
      this.#socket?.write('</stream:stream>');
    }
    if (this.#loginPending) this.#failLogin(new LoginError('closed', 'server closed the stream during login'));
    this.#phase = this.#phase === 'closed' ? 'closed' : 'closing';
    this.#socket?.end();
  }

  #onClose(): void {
    // Only while logging in: an Error (and its stack trace) per closed connection costs a mass disconnect dearly.
    if (this.#loginPending) this.#failLogin(new LoginError('closed', 'connection closed during login'));
    this.#phase = 'closed';
    this.presences.close(this.#endReason);
    this.#iqs.clear();
    this.#inbox.length = 0;
    this.#markClosed();
  }
}

/** RFC 6120 §8.3: the defined condition of a stanza's <error/>. */
function stanzaCondition(stanza: Element): string {
  const error = stanza.getChild('error');
  return (error === undefined ? undefined : conditionOf(error, NS.stanzas)) ?? 'no condition';
}

export { ConnectionClosedError, LoginError, type PresenceRecord, type SaslMechanism };
