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
import { conditionOf, LoginError, SASL_DONE, SaslClient, type LoginStage, type SaslMechanism } from './sasl-client.js';
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
/** Problems kept per client (all are counted). */
const MAX_PROBLEMS_KEPT = 8;

export type RawClientPhase = 'idle' | 'negotiating' | 'live' | 'closing' | 'closed';

/** Where a login is: the element the client waits for next. */
type LoginStep = 'connect' | 'features' | 'sasl' | 'restarted' | 'bind' | 'roster';

/**
 * What plain-TCP sockets read goes into this one buffer (net.connect's
 * `onread`), handed to the client's reader and decoded before the callback
 * returns: no Buffer per read, no stream machinery between the socket and
 * the reader. TLS sockets read through their 'data' events.
 */
const READ_BUFFER_BYTES = 64 * 1024;
let readBuffer: Buffer | undefined;

/** The client a socket belongs to: the socket's listeners are shared functions, not closures per client. */
const CLIENT = Symbol('RawXmppClient');
type ClientSocket = Socket & { [CLIENT]?: RawXmppClient };

/** net's `onread` callback, called on the socket: returning true keeps reading. */
function onSocketRead(this: unknown, length: number, buffer: Uint8Array): boolean {
  (this as ClientSocket)[CLIENT]?.receive(buffer as Buffer, length);
  return true;
}

function onSocketData(this: ClientSocket, chunk: Buffer): void {
  this[CLIENT]?.receive(chunk, chunk.length);
}

function onSocketConnect(this: ClientSocket): void {
  this[CLIENT]?.connected();
}

function onSocketError(this: ClientSocket, error: Error): void {
  this[CLIENT]?.socketError(error);
}

function onSocketClose(this: ClientSocket): void {
  this[CLIENT]?.socketClosed();
}

function flushClient(client: RawXmppClient): void {
  client.flushPending();
}

function advanceClient(client: RawXmppClient): void {
  client.advanceLogin();
}

/** The client's stream header for a domain (RFC 6120 §4.7), built once per domain. */
const STREAM_HEADERS = new Map<string, string>();

function streamHeader(domain: string): string {
  let header = STREAM_HEADERS.get(domain);
  if (header === undefined) {
    header = `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' to='${escapeAttr(domain)}' version='1.0'>`;
    if (STREAM_HEADERS.size < 64) STREAM_HEADERS.set(domain, header);
  }
  return header;
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
  /** Items in the roster the login fetched (rosterGet), each with a jid; -1 before (or without) one. */
  rosterItems = -1;
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

  readonly #opts: RawClientOptions;
  #phase: RawClientPhase = 'idle';
  #socket: ClientSocket | undefined;
  /** Restarted at each stream (re)start, RFC 6120 §4.3.3. */
  readonly #reader: StanzaReader;
  /** Why the connection ended, when the server or its input ended it: named in the errors of waits it cuts short. */
  #endReason: string | undefined;
  #readAt = 0;
  #nextId = 0;
  #silent = false;
  /** The socket's 'close' came. */
  #closeSeen = false;
  #closedPromise: Promise<void> | undefined;
  #markClosed: (() => void) | undefined;

  // A login in progress: the server's elements wait in the inbox until advanceLogin() (next tick) takes them.
  #loginPending = false;
  #loginFailure: LoginError | undefined;
  #step: LoginStep = 'connect';
  readonly #inbox: Element[] = [];
  #advanceScheduled = false;
  /** SCRAM keys are being derived: the inbox waits. */
  #saslWaiting = false;
  #sasl: SaslClient | undefined;
  #bindId = '';
  #rosterId = '';
  #loginTimer: NodeJS.Timeout | undefined;
  #loginResolve: ((jid: string) => void) | undefined;
  #loginReject: ((e: LoginError) => void) | undefined;

  constructor(options: RawClientOptions) {
    this.#opts = options;
    this.presences = new PresenceLog(options.maxPresences ?? 32);
    this.#reader = new StanzaReader(this.#readerHandlers());
  }

  get phase(): RawClientPhase {
    return this.#phase;
  }

  /** Resolves once the connection is closed (however it ended). */
  get closed(): Promise<void> {
    if (this.#closedPromise === undefined) {
      this.#closedPromise = this.#closeSeen
        ? Promise.resolve()
        : new Promise((resolve) => {
            this.#markClosed = resolve;
          });
    }
    return this.#closedPromise;
  }

  /**
   * Connect, stream header, SASL, stream restart, bind, then (options)
   * roster get and initial presence; resolves with the bound JID. Driven by
   * what the server sends: each element it reads is taken by the next step
   * (one tick later, as an await would), so a login holds no promise per
   * step.
   */
  login(): Promise<string> {
    if (this.#phase !== 'idle') return Promise.reject(new LoginError('connect', `login() called in phase ${this.#phase}`));
    this.#phase = 'negotiating';
    this.#loginPending = true;
    this.loginStartedAt = performance.now();
    const timeoutMs = this.#opts.loginTimeoutMs ?? 15_000;
    const done = new Promise<string>((resolve, reject) => {
      this.#loginResolve = resolve;
      this.#loginReject = reject;
    });
    this.#loginTimer = setTimeout(() => this.#failLogin(new LoginError('timeout', `not logged in after ${timeoutMs} ms`)), timeoutMs);
    this.#connect();
    return done;
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
    if (socket === undefined) this.socketClosed();
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

  #connect(): void {
    const host = this.#opts.host ?? '127.0.0.1';
    const tls = this.#opts.tlsCa;
    let socket: ClientSocket;
    if (tls === undefined) {
      readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
      socket = createConnection({ host, port: this.#opts.port, noDelay: true, onread: { buffer: readBuffer, callback: onSocketRead } });
      socket.once('connect', onSocketConnect);
    } else {
      socket = tlsConnect({ host, port: this.#opts.port, ca: tls, servername: this.#opts.domain });
      socket.on('data', onSocketData);
      socket.once('secureConnect', onSocketConnect);
    }
    socket[CLIENT] = this;
    this.#socket = socket;
    socket.on('error', onSocketError);
    socket.once('close', onSocketClose);
  }

  /** @internal Bytes read from the socket (`length` of them at the start of `bytes`, which is reused once this returns). */
  receive(bytes: Buffer, length: number): void {
    this.#readAt = performance.now();
    this.#reader.writeBytes(bytes, length);
  }

  /** @internal The socket connected: the login's first step. */
  connected(): void {
    if (!this.#loginPending || this.#step !== 'connect') return;
    this.#step = 'features';
    this.#openStream();
  }

  /** @internal Errors end in 'close'; only a failed connect is worth a reason (a load generator does not care why later). */
  socketError(error: Error): void {
    if (this.#step === 'connect') this.#failLogin(new LoginError('connect', error.message));
  }

  /** @internal The socket's 'close'. */
  socketClosed(): void {
    // Only while logging in: an Error (and its stack trace) per closed connection costs a mass disconnect dearly.
    if (this.#loginPending) {
      this.#failLogin(this.#step === 'connect' ? new LoginError('connect', 'connection closed before it was established') : new LoginError('closed', 'connection closed during login'));
    }
    this.#phase = 'closed';
    this.#closeSeen = true;
    this.presences.close(this.#endReason);
    this.#inbox.length = 0;
    this.#markClosed?.();
  }

  /** RFC 6120 §4.2 (and §6.4.6 after SASL): a new stream header, a new parser; the server's features come next. */
  #openStream(): void {
    this.#reader.restart();
    this.send(streamHeader(this.#opts.domain));
  }

  /** @internal Takes the elements the server sent since, one login step each. */
  advanceLogin(): void {
    this.#advanceScheduled = false;
    while (this.#loginPending && this.#phase === 'negotiating' && !this.#saslWaiting) {
      const stanza = this.#inbox.shift();
      if (stanza === undefined) return;
      try {
        this.#loginStep(stanza);
      } catch (e) {
        this.#failLogin(e instanceof LoginError ? e : this.#loginFailure ?? new LoginError('stream', e instanceof Error ? e.message : String(e)));
      }
    }
  }

  #loginStep(e: Element): void {
    switch (this.#step) {
      case 'features':
      case 'restarted': {
        const stage: LoginStage = this.#step === 'features' ? 'stream' : 'bind';
        if (!isStreamElement(e, 'features')) throw new LoginError(stage, `expected <stream:features/>, got <${e.name}/>`);
        if (this.#step === 'features') {
          const sasl = new SaslClient(this.#opts.mechanism ?? 'SCRAM-SHA-256', this.#opts.username, this.#opts.password);
          this.#sasl = sasl;
          this.#step = 'sasl';
          this.send(sasl.start(e));
          return;
        }
        if (e.getChild('bind', NS.bind) === undefined) throw new LoginError('bind', 'server offers no resource binding');
        const id = `bind${this.#nextId++}`;
        const resource = this.#opts.resource === undefined ? '' : `<resource>${escapeText(this.#opts.resource)}</resource>`;
        this.#bindId = id;
        this.#step = 'bind';
        this.send(`<iq type='set' id='${id}'><bind xmlns='${NS.bind}'>${resource}</bind></iq>`);
        return;
      }
      case 'sasl': {
        const next = (this.#sasl as SaslClient).next(e);
        if (next === SASL_DONE) {
          this.#sasl = undefined;
          this.#step = 'restarted';
          this.#openStream();
        } else if (typeof next === 'string') {
          this.send(next);
        } else {
          // The account's SCRAM keys were not cached: derived on the libuv pool, the login goes on when they are.
          this.#saslWaiting = true;
          next.then(
            (xml) => {
              this.#saslWaiting = false;
              if (!this.#loginPending) return;
              this.send(xml);
              this.advanceLogin();
            },
            (error: unknown) => {
              this.#saslWaiting = false;
              this.#failLogin(error instanceof LoginError ? error : new LoginError('sasl', error instanceof Error ? error.message : String(error)));
            },
          );
        }
        return;
      }
      case 'bind': {
        this.jid = this.#bound(e);
        this.#goLive();
        if (!this.#loginPending) return;
        // Roster get and initial presence leave together, in that order (as clients that pipeline do): the
        // server handles a stream's stanzas in order, so the roster still comes back before any presence.
        if (this.#opts.rosterGet === true) {
          const id = `roster${this.#nextId++}`;
          this.#rosterId = id;
          this.#step = 'roster';
          this.send(`<iq type='get' id='${id}'><query xmlns='${NS.roster}'/></iq>`);
        }
        if (this.#opts.initialPresence !== false) this.sendPresence();
        if (this.#opts.rosterGet !== true) this.#loginDone();
        return;
      }
      default:
        throw new LoginError('stream', `unexpected <${e.name}/> during login`);
    }
  }

  /** The bind result (RFC 6120 §7.6.1): the bound JID, or a LoginError. */
  #bound(reply: Element): string {
    if (reply.name !== 'iq' || reply.attr('id') !== this.#bindId) throw new LoginError('bind', `expected the bind result, got <${reply.name}/>`);
    if (reply.attr('type') !== 'result') {
      const error = reply.getChild('error');
      const condition = error === undefined ? undefined : conditionOf(error, NS.stanzas);
      throw new LoginError('bind', `bind refused (${condition ?? 'no condition'})`, condition);
    }
    const jid = reply.getChild('bind', NS.bind)?.getChildText('jid')?.trim() ?? '';
    if (jid === '') throw new LoginError('bind', 'bind result carries no JID');
    return jid;
  }

  /** RFC 6121 §2.1.4: the roster result; its items are counted (each must carry a jid), then the login is done. */
  #onRoster(iq: Element): void {
    this.#rosterId = '';
    if (iq.attr('type') !== 'result') return this.#failLogin(new LoginError('roster', 'roster get refused'));
    const query = iq.getChild('query', NS.roster);
    let items = 0;
    if (query !== undefined) {
      for (const item of query.children) {
        if (typeof item === 'string' || item.name !== 'item') continue;
        if (item.attr('jid') === undefined) return this.#failLogin(new LoginError('roster', 'roster item without a jid'));
        items += 1;
      }
    }
    this.rosterItems = items;
    this.#loginDone();
  }

  /** Login is over: stanzas go to dispatch from now on. */
  #goLive(): void {
    this.#phase = 'live';
    this.#reader.fastPresence = true;
    for (const stanza of this.#inbox.splice(0)) this.#dispatch(stanza);
  }

  #loginDone(): void {
    if (!this.#loginPending) return;
    this.loggedInAt = performance.now();
    const resolve = this.#loginResolve;
    this.#endLogin();
    resolve?.(this.jid);
  }

  #endLogin(): void {
    this.#loginPending = false;
    this.#loginResolve = undefined;
    this.#loginReject = undefined;
    this.#sasl = undefined;
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
  }

  /** Ends a login in progress with the first reason given: login() rejects, and the socket goes. */
  #failLogin(error: LoginError): void {
    if (!this.#loginPending) return;
    this.#loginFailure ??= error;
    const reject = this.#loginReject;
    this.#endLogin();
    this.destroy();
    reject?.(this.#loginFailure);
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
      if (this.#inbox.length >= MAX_LOGIN_INBOX) return this.#failLogin(new LoginError('stream', 'server sent too much during login'));
      this.#inbox.push(stanza);
      if (!this.#advanceScheduled) {
        this.#advanceScheduled = true;
        process.nextTick(advanceClient, this);
      }
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
      if (id !== '' && id === this.#rosterId && this.#loginPending) return this.#onRoster(iq);
      return this.#problem(`iq ${type} with id ${JSON.stringify(id)} that no request is waiting for${type === 'error' ? `: ${stanzaCondition(iq)}` : ''}`);
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
}

/** RFC 6120 §8.3: the defined condition of a stanza's <error/>. */
function stanzaCondition(stanza: Element): string {
  const error = stanza.getChild('error');
  return (error === undefined ? undefined : conditionOf(error, NS.stanzas)) ?? 'no condition';
}

export { ConnectionClosedError, LoginError, type PresenceRecord, type SaslMechanism };
