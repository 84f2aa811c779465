import { performance } from 'node:perf_hooks';
import {
  el, errorReply, escapeAttr, randomToken, streamErrorXml, NS, parseStanza, StanzaError,
  type Element, type StreamError, type StreamErrorCondition, type StreamParserHandlers, saslFailureXml,
} from '@vigil/xmpp';
import type { AccountStore } from '@vigil/store';
import type { Logger } from '@vigil/telemetry';
import { cluster } from '@vigil/proto';
import type { NodeConfig } from './config.js';
import type { ClusterLink } from './cluster-link.js';
import type { FrameParser } from './framing.js';
import type { Transport } from './transport.js';
import { addressOf, type AuthThrottle } from './auth-throttle.js';
import { SaslNegotiation, type Mechanism } from './sasl-negotiation.js';
import type { CredentialSource } from './credentials.js';
import { SessionHandler, type SavedSession } from './session-handler.js';
import { NS_SM, parseH, SmQueue } from './stream-management.js';
import { handleRegistration, NS_REGISTER, NS_REGISTER_FEATURE } from './registration.js';
import type { NodeMetrics } from './metrics.js';

/** 'hibernating': a resumable managed stream lost its connection and waits for a `<resume/>` (XEP-0198). */
type Phase = 'connected' | 'pre-auth' | 'authenticated' | 'bound' | 'hibernating' | 'closed';

/** A stream without input for this long keeps no XML parser state (see StreamParser.release). */
const PARSER_IDLE_MS = 1000;

/** RFC 6120 §6.4.5: a few retries, then the stream ends. */
const MAX_SASL_FAILURES = 3;

export interface ClientStreamDeps {
  readonly config: NodeConfig;
  readonly accounts: AccountStore;
  /** Where SASL reads stored keys; `accounts` when absent. */
  readonly credentials?: CredentialSource;
  readonly link: ClusterLink;
  readonly log: Logger;
  /** The node's failed-authentication counts (per account and per address). */
  readonly throttle: AuthThrottle;
  /** Resumable managed streams of the node by XEP-0198 id, live or hibernating. */
  readonly resumptions: Map<string, ClientStream>;
  readonly metrics?: NodeMetrics;
}

/** Where a bound session's output goes: the stream serving it now (a resumption moves it to a new one). */
interface SessionOutput {
  stream: ClientStream;
}

/**
 * One client connection, from stream header to close (RFC 6120): limits,
 * STARTTLS, SASL, resource binding, then hands stanzas to its
 * SessionHandler. The same over TCP and WebSocket: the transport's Framing
 * turns opens, elements and closes into bytes and back. Stanzas are
 * processed strictly in order, one at a time; a bounded queue with socket
 * backpressure sits in front.
 */
export class ClientStream implements StreamParserHandlers {
  readonly id = randomToken(9);
  #phase: Phase = 'connected';
  /** Why the stream closed: a session whose bind or restoration was still waiting when it did ends with this cause. */
  #closedBy: cluster.EndCause | undefined;
  #parser: FrameParser;
  /**
   * Between `<starttls/>` and the end of the handshake: input is dropped, so
   * nothing sent in the clear after the command is ever processed (RFC 6120
   * §5.4.3.3: what came before TLS is discarded).
   */
  #tlsPending = false;
  #username: string | undefined;
  /** Made when the stream offers mechanisms, dropped once authenticated (nothing of it is needed after). */
  #sasl: SaslNegotiation | undefined;
  #saslFailures = 0;
  /** The mechanism of the SASL exchange in progress, then of the one that succeeded (for the login's log line). */
  #authMechanism = '';
  #mechanism: string | undefined;
  #registered = false;
  #registrationFailures = 0;
  #session: SessionHandler | undefined;
  #out: SessionOutput | undefined;
  /** XEP-0198: counters and unacknowledged stanzas, once the client enabled stream management. */
  #sm: SmQueue | undefined;
  /** Set when the managed stream may be resumed. */
  #smId: string | undefined;
  #ackRequested = false;
  /** When the outstanding `<r/>` was written (monotonic ms); undefined when none is outstanding. */
  #ackRequestedMs: number | undefined;
  #hibernatedMs = 0;
  /** The session as the presence grace ended it, for a resumption to bring back. */
  #saved: SavedSession | undefined;
  /** Replaced by a fresh array when drained: a used one keeps its grown backing store. */
  #queue: Element[] = [];
  #processing = false;
  /** The client closed its stream while stanzas were still queued: close once they are processed. */
  #closeAfterQueue = false;
  readonly #log: Logger;

  constructor(
    private readonly transport: Transport,
    private readonly deps: ClientStreamDeps,
    private readonly onClosed: (stream: ClientStream) => void,
  ) {
    this.#log = deps.log.child({ stream: this.id, remote: transport.remoteAddress });
    this.#parser = this.#newParser(deps.config.preAuthMaxStanzaBytes);
  }

  /** The SASL exchange of this stream, made on first use (and again after STARTTLS: the mechanisms change). */
  get #negotiation(): SaslNegotiation {
    this.#sasl ??= new SaslNegotiation(this.deps.credentials ?? this.deps.accounts, this.deps.config.domain, this.#mechanisms(), this.deps.config.scramIterations, (u) => this.deps.throttle.locked(u, '', performance.now()) === 'account');
    return this.#sasl;
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** Input from the transport: a chunk of the TCP byte stream, or one whole WebSocket message. */
  receive(chunk: Buffer): void {
    // Any input proves the client alive (XEP-0199 §4.1: whatever it sends answers our ping as well as a pong).
    this.#lastInputMs = performance.now();
    this.#pingSentMs = undefined;
    if (this.#phase === 'closed' || this.#tlsPending) return;
    if (this.#phase === 'connected' || this.#phase === 'pre-auth') {
      // Unauthenticated connections get a small byte budget, so thousands of them stay cheap.
      this.#preAuthBytes += chunk.length;
      if (this.#preAuthBytes > this.deps.config.preAuthMaxBytes) return this.fail('policy-violation', 'too much data before authentication');
    }
    this.#parser.write(chunk);
    // A bound session is idle between stanzas nearly all its life: keep no parser state then. During the
    // login's quick round trips the parser stays (rebuilding it costs more than keeping it a moment);
    // the sweep releases it if such a stream goes quiet.
    if (this.#phase === 'bound') this.#parser.release?.();
  }

  #preAuthBytes = 0;
  /** Token bucket of the client's stanzas (VIGIL_STANZA_RATE, VIGIL_STANZA_BURST). */
  #tokens = -1;
  #tokensAtMs = 0;

  /** False when the client exceeds its stanza rate. */
  #takeToken(): boolean {
    const { stanzaRate, stanzaBurst } = this.deps.config;
    const now = performance.now();
    this.#tokens = this.#tokens < 0 ? stanzaBurst : Math.min(stanzaBurst, this.#tokens + ((now - this.#tokensAtMs) * stanzaRate) / 1000);
    this.#tokensAtMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * Dead-client detection for a bound session, driven by the node's single
   * sweep (no timer per session): after `idleMs` without input, one XEP-0199
   * ping from the server; no input within `timeoutMs` after it ends the
   * stream with <connection-timeout/> and the session is announced lost.
   */
  checkLiveness(nowMs: number, idleMs: number, timeoutMs: number): void {
    if (this.#phase === 'closed') return;
    if (nowMs - this.#lastInputMs >= PARSER_IDLE_MS) this.#parser.release?.();
    if (this.#phase === 'hibernating') return this.#checkHibernation(nowMs);
    if (this.#phase !== 'bound') {
      // Pre-authentication streams get a small time budget, checked by the same sweep (no timer per connection).
      if (nowMs - this.#openedMs >= this.deps.config.authTimeoutMs) this.fail('connection-timeout', 'no resource bound in time');
      return;
    }
    const ackTimeoutMs = this.deps.config.smAckTimeoutMs;
    if (ackTimeoutMs > 0 && this.#ackRequestedMs !== undefined && nowMs - this.#ackRequestedMs >= ackTimeoutMs) {
      // XEP-0198 sets no limit; a client that reads answers an <r/> within a round trip. One that does not is gone
      // (its TCP not yet seen dead) or stuck, and what is sent to it only piles up: lost, like a ping timeout.
      return this.fail('connection-timeout', `no <a/> within ${ackTimeoutMs} ms of the server's <r/>`, cluster.EndCause.END_CAUSE_CLIENT_LOST, true);
    }
    if (this.#pingSentMs !== undefined) {
      if (nowMs - this.#pingSentMs >= timeoutMs) this.fail('connection-timeout', `no answer to a ping within ${timeoutMs} ms`, cluster.EndCause.END_CAUSE_CLIENT_LOST, true);
      return;
    }
    if (nowMs - this.#lastInputMs < idleMs) return;
    this.#pingSentMs = nowMs;
    this.send(`<iq type='get' id='vigil-ping-${++this.#pings}' from='${this.deps.config.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  }

  readonly #openedMs = performance.now();
  #lastInputMs = performance.now();
  #pingSentMs: number | undefined;
  #pings = 0;

  /** The transport closed under us: whatever the session was, it is now lost unless it said goodbye. */
  transportClosed(reason: string): void {
    if (this.#phase === 'closed' || this.#phase === 'hibernating') return;
    if (this.#resumable) return this.#hibernate(reason);
    this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, reason);
  }

  /** One serialized stanza to the client (kept until acknowledged when stream management is on). */
  send(xml: string): void {
    if (this.#phase === 'closed') return;
    const sm = this.#sm;
    if (sm === undefined) return this.#write(xml);
    sm.sent(xml);
    if (sm.unackedCount > this.deps.config.smMaxUnacked) {
      return this.fail('policy-violation', `more than ${this.deps.config.smMaxUnacked} stanzas unacknowledged`);
    }
    if (this.#phase === 'hibernating') {
      return this.#log.debug('stanza kept for a resumption', { user: this.#username, unacked: sm.unackedCount, stanza: /^<([a-z]+)/.exec(xml)?.[1] });
    }
    this.#write(xml);
    this.#requestAck();
  }

  /**
   * Ends the stream with a stream error (RFC 6120 §4.9) and closes the
   * connection. `hibernate`: a resumable managed session survives it (a
   * ping timeout is a connection lost, not a session refused).
   */
  fail(condition: StreamErrorCondition, text?: string, cause: cluster.EndCause = cluster.EndCause.END_CAUSE_CLIENT_LOST, hibernate = false): void {
    if (this.#phase === 'closed') return;
    if (this.#phase !== 'hibernating') {
      if (this.#phase === 'connected') this.#writeOpen();
      this.#write(streamErrorXml(condition, text));
      this.#writeClose();
      this.#log.info('stream error sent', { condition, text, user: this.#username });
      this.deps.metrics?.streamError(condition);
    }
    if (hibernate && this.#resumable) this.#hibernate(`stream error ${condition}`);
    else this.#close(cause, `stream error ${condition}`);
    this.transport.end();
  }

  #close(cause: cluster.EndCause, reason: string): void {
    if (this.#phase === 'authenticated') this.#log.info('stream closed after authentication, before binding', { user: this.#username, reason });
    this.#phase = 'closed';
    this.#closedBy = cause;
    this.#queue.length = 0;
    this.#session?.end(cause, reason);
    if (this.#smId !== undefined && this.deps.resumptions.get(this.#smId) === this) this.deps.resumptions.delete(this.#smId);
    this.#forgetEnded();
    this.#bounceUnacked();
    this.onClosed(this);
  }

  get #resumable(): boolean {
    return this.#phase === 'bound' && this.#smId !== undefined;
  }

  /** XEP-0198 §5: the connection is gone; the session waits for a `<resume/>` and keeps what it is sent. */
  #hibernate(reason: string): void {
    this.#phase = 'hibernating';
    this.#hibernatedMs = performance.now();
    this.#queue.length = 0;
    this.#log.info('managed stream lost its connection; resumable', {
      reason, user: this.#username, graceMs: this.deps.config.smPresenceGraceMs, resumeMs: this.deps.config.smResumeMs,
    });
  }

  /**
   * Driven by the node's sweep: after the presence grace the session ends
   * (contacts are told it is gone, as for any lost client) while the stream
   * stays resumable; after the resumption window the stream ends too.
   */
  #checkHibernation(nowMs: number): void {
    const waited = nowMs - this.#hibernatedMs;
    if (waited >= this.deps.config.smResumeMs) {
      this.#log.info('managed stream not resumed in time', { user: this.#username });
      this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, 'not resumed within the resumption window');
      return;
    }
    const session = this.#session;
    if (waited >= this.deps.config.smPresenceGraceMs && session !== undefined && !session.ended) {
      this.#saved = session.snapshot();
      // Found by a later bind of the same resource, which ends this stream for good (see #replaceEnded).
      this.deps.resumptions.set(endedKey(this.#saved.fullJid), this);
      session.end(cluster.EndCause.END_CAUSE_CLIENT_LOST, 'presence grace over; still resumable');
    }
  }

  /**
   * XEP-0198: stanzas the client never acknowledged, when its session ends
   * without a resumption, are treated like stanzas to an unavailable
   * resource: a message or iq request from another entity is answered with
   * an error, presence and errors are dropped, and the count is logged.
   */
  #bounceUnacked(): void {
    const rest = this.#sm?.takeUnacked() ?? [];
    if (rest.length === 0) return;
    let bounced = 0;
    for (const xml of rest) {
      let stanza: Element;
      try {
        stanza = parseStanza(xml);
      } catch (e) {
        this.#log.warn('unacknowledged stanza unreadable; dropped', { err: e });
        continue;
      }
      const from = stanza.attr('from') ?? '';
      const type = stanza.attr('type');
      const request = stanza.name === 'message' ? type !== 'error' && type !== 'groupchat' && type !== 'headline' : stanza.name === 'iq' && (type === 'get' || type === 'set');
      if (!request || !from.includes('@')) continue;
      const error = stanza.name === 'message' ? new StanzaError('recipient-unavailable', 'wait') : new StanzaError('service-unavailable', 'cancel');
      const kind = stanza.name === 'message' ? cluster.DeliveryKind.DELIVERY_KIND_MESSAGE : cluster.DeliveryKind.DELIVERY_KIND_IQ;
      const bare = from.split('/')[0] ?? from;
      this.deps.link.publishDelivery(from, bare, '', kind, errorReply(stanza, error).toString());
      bounced++;
    }
    this.#log.info('unacknowledged stanzas of an ended session', { user: this.#username, unacked: rest.length, bounced, dropped: rest.length - bounced });
  }

  /** One `<r/>` after a burst of stanzas, none again until the client's `<a/>`. */
  #requestAck(): void {
    if (this.#ackRequested) return;
    this.#ackRequested = true;
    setImmediate(() => {
      if (this.#phase !== 'bound') return;
      this.#write(`<r xmlns='${NS_SM}'/>`);
      this.#ackRequestedMs = performance.now();
    });
  }

  #mechanisms(): Mechanism[] {
    const plain = this.transport.secure || this.deps.config.allowPlainWithoutTls;
    return plain ? ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] : ['SCRAM-SHA-256', 'SCRAM-SHA-1'];
  }

  #newParser(maxStanzaBytes: number): FrameParser {
    // The stream itself takes the parser's events: no closures per connection.
    return this.transport.framing.parser(this, { maxStanzaBytes, maxDepth: this.deps.config.maxDepth });
  }

  // Parser events. Events after <starttls/> (the rest of its chunk) are dropped like later input.

  /** @internal StreamParserHandlers */
  onStreamOpen(attrs: Record<string, string>): void {
    if (!this.#tlsPending) this.#onStreamOpen(attrs);
  }

  /** @internal StreamParserHandlers */
  onStanza(stanza: Element): void {
    if (!this.#tlsPending) this.#onStanza(stanza);
  }

  /** @internal StreamParserHandlers */
  onStreamClose(): void {
    if (!this.#tlsPending) this.#onStreamClose();
  }

  /** @internal StreamParserHandlers */
  onError(e: StreamError): void {
    if (!this.#tlsPending) this.fail(e.condition, e.text ?? e.message);
  }

  #write(xml: string): void {
    this.transport.write(this.transport.framing.element(xml));
    // A client that does not read: the buffer is bounded, then this client alone is cut off.
    if (this.transport.bufferedBytes > this.deps.config.maxOutboundBytes && !this.#overflowed) {
      this.#overflowed = true;
      this.#log.warn('client not reading; stream closed', { user: this.#username, bufferedBytes: this.transport.bufferedBytes });
      // Nothing more can reach it: no stream error is written, the connection is dropped (a managed session may resume).
      if (this.#phase === 'bound' && this.#resumable) this.#hibernate('client not reading');
      else if (this.#phase !== 'closed') this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, 'client not reading');
      this.transport.destroy();
    }
  }

  #overflowed = false;

  #writeOpen(to?: string): void {
    this.transport.write(this.transport.framing.open({ from: this.deps.config.domain, id: randomToken(12), ...(to ? { to } : {}) }));
  }

  #writeClose(): void {
    this.transport.write(this.transport.framing.close());
  }

  #onStreamOpen(attrs: Record<string, string>): void {
    const wasConnected = this.#phase === 'connected';
    if (wasConnected) this.#phase = 'pre-auth';
    this.#writeOpen(this.#username ? `${this.#username}@${this.deps.config.domain}` : undefined);
    // RFC 6120 §4.8.1: the content namespace of a client stream is jabber:client.
    if (attrs.xmlns !== NS.client) return this.fail('invalid-namespace', `default namespace must be ${NS.client}`);
    const to = (attrs.to ?? this.deps.config.domain).toLowerCase().replace(/\.$/, '');
    if (to !== this.deps.config.domain) return this.fail('host-unknown', `this server does not serve ${attrs.to ?? ''}`);
    const major = Number((attrs.version ?? '1.0').split('.')[0]);
    if (!(major === 1)) return this.fail('unsupported-version', 'only XMPP 1.0 streams are supported');
    this.#write(this.#features());
  }

  /** TLS must come first on this connection: STARTTLS is mandatory-to-negotiate (RFC 6120 §5.3.1). */
  get #tlsRequiredNow(): boolean {
    return this.deps.config.tlsRequired && this.transport.canStartTls;
  }

  #features(): string {
    if (this.#phase !== 'pre-auth') return BOUND_FEATURES;
    const required = this.#tlsRequiredNow;
    const canStartTls = this.transport.canStartTls;
    const mechanisms = this.#mechanisms();
    const { allowRegistration } = this.deps.config;
    // The same few strings for every stream of this node: made once each.
    let known = PRE_AUTH_FEATURES.get(this.deps.config);
    if (known === undefined) PRE_AUTH_FEATURES.set(this.deps.config, (known = new Map()));
    const key = `${canStartTls ? 't' : ''}${required ? 'r' : ''}:${mechanisms.join(' ')}`;
    let xml = known.get(key);
    if (xml === undefined) {
      const starttls = canStartTls ? el('starttls', { xmlns: NS.tls }, required ? el('required') : undefined) : undefined;
      // RFC 6120 §5.3.1: while TLS is mandatory-to-negotiate, offer nothing else (the mechanisms depend on it).
      const register = allowRegistration && !required ? el('register', { xmlns: NS_REGISTER_FEATURE }) : undefined;
      xml = (required ? el('stream:features', {}, starttls) : el('stream:features', {}, starttls, this.#negotiation.featuresElement(), register)).toString();
      known.set(key, xml);
    }
    return xml;
  }

  #onStreamClose(): void {
    if (this.#phase === 'closed') return;
    // RFC 6120 §4.4: what the client sent before its closing tag is processed first.
    if (this.#processing || this.#queue.length > 0) {
      this.#closeAfterQueue = true;
      return;
    }
    // RFC 6120 §4.4 (RFC 7395 §3.6): answer the close with ours, then close the connection.
    this.#writeClose();
    this.#close(cluster.EndCause.END_CAUSE_GRACEFUL, 'stream closed by client');
    this.transport.end();
  }

  #onStanza(stanza: Element): void {
    if (!this.#takeToken()) return this.fail('policy-violation', `more than ${this.deps.config.stanzaRate} stanzas a second`);
    // Nothing after the command is read in the clear; the handshake starts once the queue reaches it.
    if (this.#phase === 'pre-auth' && isStartTls(stanza) && this.transport.canStartTls) this.#tlsPending = true;
    this.#enqueue(stanza);
  }

  #enqueue(stanza: Element): void {
    if (this.#queue.length >= this.deps.config.maxPendingStanzas) {
      return this.fail('policy-violation', 'too many stanzas in flight');
    }
    this.#queue.push(stanza);
    if (this.#queue.length > this.deps.config.maxPendingStanzas / 2) this.transport.pause();
    if (!this.#processing) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#processing = true;
    try {
      while (this.#queue.length > 0 && this.#phase !== 'closed') {
        const stanza = this.#queue.shift() as Element;
        await this.#handle(stanza);
        if (this.#queue.length <= this.deps.config.maxPendingStanzas / 4) this.transport.resume();
      }
      if (this.#queue.length === 0) this.#queue = [];
      if (this.#closeAfterQueue && this.#phase !== 'closed') {
        this.#processing = false;
        this.#onStreamClose();
      }
    } catch (e) {
      this.#log.error('stanza handling failed', { err: e, user: this.#username });
      this.fail('internal-server-error');
    } finally {
      this.#processing = false;
    }
  }

  async #handle(stanza: Element): Promise<void> {
    switch (this.#phase) {
      case 'pre-auth':
        return this.#handlePreAuth(stanza);
      case 'authenticated':
        return this.#handleUnbound(stanza);
      case 'bound':
        if (stanza.ns === NS_SM) return this.#handleSm(stanza);
        await this.#session?.handle(stanza);
        // XEP-0198 §4: 'h' counts the client's stanzas the server has handled.
        if (this.#sm !== undefined && stanza.ns === NS.client) this.#sm.handledOne();
        return;
      default:
        return;
    }
  }

  async #handlePreAuth(stanza: Element): Promise<void> {
    if (isStartTls(stanza)) return this.#startTls();
    const register = this.deps.config.allowRegistration && stanza.name === 'iq' ? stanza.getChild('query', NS_REGISTER) : undefined;
    // Authentication or account creation before the mandatory TLS: a policy violation, as ejabberd and
    // MongooseIM answer it; any other stanza gets not-authorized below (RFC 6120 §4.9.3.12).
    if (this.#tlsRequiredNow && (stanza.ns === NS.sasl || register !== undefined)) {
      return this.fail('policy-violation', 'Use of STARTTLS required');
    }
    if (register !== undefined) {
      const creating = stanza.attr('type') === 'set';
      // One account per connection, and a few failed tries: registration is not a username oracle.
      if (creating && (this.#registered || this.#registrationFailures >= MAX_SASL_FAILURES)) {
        return this.fail('policy-violation', 'one registration per connection');
      }
      const reply = await handleRegistration(stanza, register, this.deps.accounts, this.deps.config.domain, this.deps.config.scramIterations);
      if (creating) {
        if (reply.attr('type') === 'result') this.#registered = true;
        else this.#registrationFailures++;
        this.#log.info('in-band registration', { ok: reply.attr('type') === 'result' });
      }
      this.#write(reply.toString());
      return;
    }
    if (stanza.ns !== NS.sasl) return this.fail('not-authorized', 'authenticate first');
    const address = addressOf(this.transport.remoteAddress);
    if (stanza.name === 'auth' && this.deps.throttle.locked(undefined, address, performance.now()) === 'address') {
      this.#write(saslFailureXml('not-authorized', 'too many failed attempts from your address; try again later'));
      return this.fail('policy-violation', 'too many failed authentication attempts');
    }
    if (stanza.name === 'auth') this.#authMechanism = stanza.attr('mechanism') ?? '';
    const stanzaMechanism = this.#authMechanism;
    const step = await this.#negotiation.step(stanza);
    if (this.#phase === 'closed') return;
    this.#write(step.xml);
    if (step.kind === 'failure') {
      if (step.condition === 'not-authorized') this.deps.throttle.failure(step.username, address, performance.now());
      this.#log.info('authentication failed', { condition: step.condition, user: step.username, address });
      if (++this.#saslFailures >= MAX_SASL_FAILURES) this.fail('policy-violation', 'too many failed authentication attempts');
      return;
    }
    if (step.kind === 'success') {
      this.deps.throttle.success(step.username);
      this.#username = step.username;
      this.#phase = 'authenticated';
      this.#sasl = undefined;
      // RFC 6120 §6.4.6: the client restarts the stream; parse it afresh with the larger limit.
      this.#parser = this.#newParser(this.deps.config.maxStanzaBytes);
      // One info line per login: 'session bound' names the mechanism; a stream that ends unbound says so at its close.
      this.#mechanism = stanzaMechanism;
      this.#log.debug('authenticated', { user: step.username, mechanism: stanzaMechanism });
    }
  }

  /** RFC 6120 §5.4.2: `<proceed/>` and the handshake, or `<failure/>` and the end of the stream. */
  async #startTls(): Promise<void> {
    if (!this.#tlsPending) {
      // Not offered (no certificate, already encrypted, WebSocket): RFC 6120 §5.4.2.2.
      this.#write(`<failure xmlns='${NS.tls}'/>`);
      this.#writeClose();
      this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, 'starttls not offered');
      this.transport.end();
      return;
    }
    this.#write(`<proceed xmlns='${NS.tls}'/>`);
    const tls = await this.transport.startTls().catch((err: unknown) => {
      // RFC 6120 §5.4.3.2: a failed handshake ends the TCP connection, with no stream error to send.
      this.#log.info('tls handshake failed', { err });
      if (this.#phase !== 'closed') this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, 'tls handshake failed');
      this.transport.destroy();
      return undefined;
    });
    if (tls === undefined || this.#phase === 'closed') return;
    // RFC 6120 §5.4.3.3: a new stream over TLS; mechanisms are chosen again now that the stream is secure.
    this.#parser = this.#newParser(this.deps.config.preAuthMaxStanzaBytes);
    this.#sasl = undefined;
    this.#tlsPending = false;
    this.#log.info('tls established', { protocol: tls.protocol, cipher: tls.cipher });
    this.transport.resume();
  }

  /** XEP-0198 elements on a bound stream: `<enable/>`, `<r/>`, `<a/>`. */
  #handleSm(stanza: Element): void {
    switch (stanza.name) {
      case 'enable':
        return this.#enableSm(stanza);
      case 'r':
        if (this.#sm === undefined) return this.fail('unsupported-stanza-type', 'stream management is not enabled');
        return this.#write(`<a xmlns='${NS_SM}' h='${this.#sm.handled}'/>`);
      case 'a': {
        if (this.#sm === undefined) return this.fail('unsupported-stanza-type', 'stream management is not enabled');
        const h = parseH(stanza.attr('h'));
        if (h === undefined) return this.fail('invalid-xml', "<a/> needs an 'h' that is an unsigned 32-bit integer");
        const outcome = this.#sm.ack(h);
        if (outcome.kind === 'too-high') {
          return this.fail('undefined-condition', `h=${h} acknowledges more than the ${outcome.sent} stanzas sent (handled-count-too-high)`);
        }
        // The next stanza sent asks again. Not at once: a client whose count lags (some start counting late)
        // would otherwise answer every <r/> with the same <a/>, in a loop.
        this.#ackRequested = false;
        this.#ackRequestedMs = undefined;
        return;
      }
      default:
        return this.#smFailed('unexpected-request');
    }
  }

  #enableSm(stanza: Element): void {
    if (this.#sm !== undefined) return this.#smFailed('unexpected-request');
    const { smResumeMs } = this.deps.config;
    const wantsResume = /^(true|1)$/.test(stanza.attr('resume') ?? '');
    this.#sm = new SmQueue();
    const attrs: Record<string, string> = { xmlns: NS_SM };
    if (wantsResume && smResumeMs > 0) {
      this.#smId = randomToken(18);
      this.deps.resumptions.set(this.#smId, this);
      const requested = parseH(stanza.attr('max'));
      const maxSeconds = Math.floor(smResumeMs / 1000);
      attrs.id = this.#smId;
      attrs.resume = 'true';
      attrs.max = String(requested !== undefined && requested > 0 ? Math.min(requested, maxSeconds) : maxSeconds);
    }
    this.#write(el('enabled', attrs).toString());
    this.#log.debug('stream management enabled', { resumable: this.#smId !== undefined });
  }

  #smFailed(condition: 'unexpected-request' | 'item-not-found' | 'bad-request', h?: number): void {
    const hAttr = h === undefined ? '' : ` h='${h}'`;
    this.#write(`<failed xmlns='${NS_SM}'${hAttr}><${condition} xmlns='${NS.stanzas}'/></failed>`);
  }

  /**
   * XEP-0198 §5: `<resume/>` in place of binding. The named stream must be
   * this user's and still resumable on this node; its session moves to this
   * connection (an old connection still open is closed), the client's 'h'
   * acknowledges what it got, the rest is sent again. After the presence
   * grace ended the session, it is bound again and its presence re-announced.
   */
  async #resume(stanza: Element): Promise<void> {
    const h = parseH(stanza.attr('h'));
    const previd = stanza.attr('previd') ?? '';
    if (h === undefined || previd === '') return this.#smFailed('bad-request');
    const old = this.deps.resumptions.get(previd);
    if (old === undefined || old === this || old.#username !== this.#username || old.#sm === undefined || old.#out === undefined) {
      return this.#smFailed('item-not-found');
    }
    const sm = old.#sm;
    const out = old.#out;
    // Before a restoration: a refused 'h' must not leave a restored session that no stream holds.
    const outcome = sm.ack(h);
    if (outcome.kind === 'too-high') {
      return this.fail('undefined-condition', `h=${h} acknowledges more than the ${outcome.sent} stanzas sent (handled-count-too-high)`);
    }
    let session = old.#session;
    if (session === undefined || session.ended) {
      const saved = old.#saved;
      if (saved === undefined) return this.#smFailed('item-not-found');
      session = await SessionHandler.restore(saved, this.#sessionDeps(out));
      if (session === undefined) return this.#smFailed('item-not-found');
      // Closed while the owner was asked (a kick, an account deletion, reaches the old stream; the client may have left):
      // the restored session must not outlive them.
      if (old.#phase === 'closed' || this.#phase === 'closed') {
        session.end(old.#closedBy ?? this.#closedBy ?? cluster.EndCause.END_CAUSE_CLIENT_LOST, 'stream closed while the session was restored');
        if (this.#phase !== 'closed') this.#smFailed('item-not-found');
        return;
      }
    }
    // The old stream hands everything over and goes away without ending the session.
    old.#forgetEnded();
    const oldWasLive = old.#phase !== 'hibernating';
    old.#phase = 'closed';
    old.#closedBy = cluster.EndCause.END_CAUSE_GRACEFUL; // handed over, not ended: nothing reads it, set for #closedBy's rule
    old.#queue.length = 0;
    old.#sm = undefined;
    old.#session = undefined;
    old.onClosed(old);
    if (oldWasLive) old.transport.end();
    this.#sm = sm;
    this.#smId = previd;
    this.#out = out;
    out.stream = this;
    this.#session = session;
    this.#saved = undefined;
    this.deps.resumptions.set(previd, this);
    this.#phase = 'bound';
    this.#write(`<resumed xmlns='${NS_SM}' previd='${escapeAttr(previd)}' h='${sm.handled}'/>`);
    const resent = sm.unacked();
    for (const xml of resent) this.#write(xml);
    if (resent.length > 0) this.#requestAck();
    this.#log.info('managed stream resumed', { user: this.#username, resent: resent.length, hibernated: !oldWasLive });
  }

  /**
   * A resource bound again while a stream whose session the presence grace
   * ended still waits for a resumption: that resumption can never succeed
   * now, so the old stream ends and bounces what it holds at once, as a
   * replaced live session would (instead of at the end of the window).
   */
  #replaceEnded(fullJid: string): void {
    const old = this.deps.resumptions.get(endedKey(fullJid));
    if (old === undefined || old === this || old.#phase !== 'hibernating') return;
    old.#log.info('resumable stream replaced by a new session with the same resource', { user: old.#username });
    old.#close(cluster.EndCause.END_CAUSE_KICKED, 'resource bound again');
  }

  #forgetEnded(): void {
    if (this.#saved === undefined) return;
    const key = endedKey(this.#saved.fullJid);
    if (this.deps.resumptions.get(key) === this) this.deps.resumptions.delete(key);
  }

  #sessionDeps(out: SessionOutput) {
    return {
      config: this.deps.config,
      accounts: this.deps.accounts,
      link: this.deps.link,
      log: this.#log,
      send: (xml: string) => out.stream.send(xml),
      kick: (condition: StreamErrorCondition, text: string) => out.stream.fail(condition, text, cluster.EndCause.END_CAUSE_KICKED),
    };
  }

  async #handleUnbound(stanza: Element): Promise<void> {
    if (stanza.ns === NS_SM) {
      if (stanza.name === 'resume') return this.#resume(stanza);
      // XEP-0198 §3: stream management is enabled after binding a resource.
      if (stanza.name === 'enable') return this.#smFailed('unexpected-request');
      return this.fail('unsupported-stanza-type', 'stream management is not enabled');
    }
    const bind = stanza.name === 'iq' && stanza.attr('type') === 'set' ? stanza.getChild('bind', NS.bind) : undefined;
    if (bind === undefined || this.#username === undefined) {
      if (stanza.name === 'iq' && stanza.getChild('session', NS.session)) {
        this.#write(el('iq', { type: 'result', id: stanza.attr('id') }).toString());
        return;
      }
      return this.fail('not-authorized', 'bind a resource first');
    }
    const out: SessionOutput = { stream: this };
    const session = await SessionHandler.bind(stanza, bind, this.#username, this.#sessionDeps(out), { mechanism: this.#mechanism });
    if (session === undefined) return; // an error reply was sent; the client may try again
    if (this.#phase === 'closed') {
      // Kicked (an account deletion reaches sessions still binding) or gone while the owner was asked for the
      // block list: nothing ends this session later, so it ends now.
      session.end(this.#closedBy ?? cluster.EndCause.END_CAUSE_CLIENT_LOST, 'stream closed while binding');
      return;
    }
    this.#replaceEnded(session.session.fullJid);
    this.#session = session;
    this.#out = out;
    this.#phase = 'bound';
    this.deps.metrics?.loggedIn(this.#openedMs);
  }
}

/** Features after authentication (RFC 6120 §7, §4.3.2): the same for every stream. */
const BOUND_FEATURES = el(
  'stream:features',
  {},
  el('bind', { xmlns: NS.bind }),
  // RFC 6121 appendix E / 3921 session establishment, optional: old clients still ask.
  el('session', { xmlns: NS.session }, el('optional')),
  // RFC 6121 §2.6.1 roster versioning, §3.4 pre-approval.
  el('ver', { xmlns: NS.rosterver }),
  el('sub', { xmlns: 'urn:xmpp:features:pre-approval' }),
  el('sm', { xmlns: NS_SM }),
).toString();

/** Pre-authentication features by node configuration, then by what the connection allows (see #features). */
const PRE_AUTH_FEATURES = new WeakMap<NodeConfig, Map<string, string>>();

/** Key of a hibernating stream whose session already ended, by its full JID (ids never contain ':'). */
function endedKey(fullJid: string): string {
  return `ended:${fullJid}`;
}

function isStartTls(stanza: Element): boolean {
  return stanza.name === 'starttls' && stanza.ns === NS.tls;
}
