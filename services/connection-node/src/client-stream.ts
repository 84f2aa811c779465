import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import {
  el, streamErrorXml, NS,
  type Element, type StreamError, type StreamErrorCondition, saslFailureXml,
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
import { SessionHandler } from './session-handler.js';
import { handleRegistration, NS_REGISTER, NS_REGISTER_FEATURE } from './registration.js';
import type { NodeMetrics } from './metrics.js';

type Phase = 'connected' | 'pre-auth' | 'authenticated' | 'bound' | 'closed';

/** RFC 6120 §6.4.5: a few retries, then the stream ends. */
const MAX_SASL_FAILURES = 3;

export interface ClientStreamDeps {
  readonly config: NodeConfig;
  readonly accounts: AccountStore;
  readonly link: ClusterLink;
  readonly log: Logger;
  /** The node's failed-authentication counts (per account and per address). */
  readonly throttle: AuthThrottle;
  readonly metrics?: NodeMetrics;
}

/**
 * One client connection, from stream header to close (RFC 6120): limits,
 * STARTTLS, SASL, resource binding, then hands stanzas to its
 * SessionHandler. The same over TCP and WebSocket: the transport's Framing
 * turns opens, elements and closes into bytes and back. Stanzas are
 * processed strictly in order, one at a time; a bounded queue with socket
 * backpressure sits in front.
 */
export class ClientStream {
  readonly id = randomBytes(9).toString('base64url');
  #phase: Phase = 'connected';
  #parser: FrameParser;
  /**
   * Between `<starttls/>` and the end of the handshake: input is dropped, so
   * nothing sent in the clear after the command is ever processed (RFC 6120
   * §5.4.3.3: what came before TLS is discarded).
   */
  #tlsPending = false;
  #username: string | undefined;
  #sasl: SaslNegotiation;
  #saslFailures = 0;
  #registered = false;
  #registrationFailures = 0;
  #session: SessionHandler | undefined;
  readonly #queue: Element[] = [];
  #processing = false;
  readonly #log: Logger;

  constructor(
    private readonly transport: Transport,
    private readonly deps: ClientStreamDeps,
    private readonly onClosed: (stream: ClientStream) => void,
  ) {
    this.#log = deps.log.child({ stream: this.id, remote: transport.remoteAddress });
    this.#parser = this.#newParser(deps.config.preAuthMaxStanzaBytes);
    this.#sasl = new SaslNegotiation(deps.accounts, deps.config.domain, this.#mechanisms(), deps.config.scramIterations, (u) => deps.throttle.locked(u, '', performance.now()) === 'account');
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** Input from the transport: a chunk of the TCP byte stream, or one whole WebSocket message. */
  receive(chunk: Buffer): void {
    // Any input proves the client alive (XEP-0199 §4.1: whatever it sends answers our ping as well as a pong).
    this.#lastInputMs = performance.now();
    this.#pingSentMs = undefined;
    if (this.#phase !== 'closed' && !this.#tlsPending) this.#parser.write(chunk);
  }

  /**
   * Dead-client detection for a bound session, driven by the node's single
   * sweep (no timer per session): after `idleMs` without input, one XEP-0199
   * ping from the server; no input within `timeoutMs` after it ends the
   * stream with <connection-timeout/> and the session is announced lost.
   */
  checkLiveness(nowMs: number, idleMs: number, timeoutMs: number): void {
    if (this.#phase === 'closed') return;
    if (this.#phase !== 'bound') {
      // Pre-authentication streams get a small time budget, checked by the same sweep (no timer per connection).
      if (nowMs - this.#openedMs >= this.deps.config.authTimeoutMs) this.fail('connection-timeout', 'no resource bound in time');
      return;
    }
    if (this.#pingSentMs !== undefined) {
      if (nowMs - this.#pingSentMs >= timeoutMs) this.fail('connection-timeout', `no answer to a ping within ${timeoutMs} ms`);
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
    if (this.#phase === 'closed') return;
    this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, reason);
  }

  /** One serialized top-level element to the client. */
  send(xml: string): void {
    if (this.#phase !== 'closed') this.#write(xml);
  }

  /** Ends the stream with a stream error (RFC 6120 §4.9) and closes the connection. */
  fail(condition: StreamErrorCondition, text?: string, cause: cluster.EndCause = cluster.EndCause.END_CAUSE_CLIENT_LOST): void {
    if (this.#phase === 'closed') return;
    if (this.#phase === 'connected') this.#writeOpen();
    this.#write(streamErrorXml(condition, text));
    this.#writeClose();
    this.#log.info('stream error sent', { condition, text, user: this.#username });
    this.deps.metrics?.streamError(condition);
    this.#close(cause, `stream error ${condition}`);
    this.transport.end();
  }

  #close(cause: cluster.EndCause, reason: string): void {
    this.#phase = 'closed';
    this.#queue.length = 0;
    this.#session?.end(cause, reason);
    this.onClosed(this);
  }

  #mechanisms(): Mechanism[] {
    const plain = this.transport.secure || this.deps.config.allowPlainWithoutTls;
    return plain ? ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] : ['SCRAM-SHA-256', 'SCRAM-SHA-1'];
  }

  #newParser(maxStanzaBytes: number): FrameParser {
    // Events after <starttls/> (the rest of its chunk) are dropped like later input.
    const live = <A extends unknown[]>(f: (...args: A) => void) => (...args: A): void => {
      if (!this.#tlsPending) f(...args);
    };
    return this.transport.framing.parser(
      {
        onStreamOpen: live((attrs: Record<string, string>) => this.#onStreamOpen(attrs)),
        onStanza: live((stanza: Element) => this.#onStanza(stanza)),
        onStreamClose: live(() => this.#onStreamClose()),
        onError: live((e: StreamError) => this.fail(e.condition, e.text ?? e.message)),
      },
      { maxStanzaBytes, maxDepth: this.deps.config.maxDepth },
    );
  }

  #write(xml: string): void {
    this.transport.write(this.transport.framing.element(xml));
  }

  #writeOpen(to?: string): void {
    this.transport.write(this.transport.framing.open({ from: this.deps.config.domain, id: randomBytes(12).toString('base64url'), ...(to ? { to } : {}) }));
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
    if (this.#phase === 'pre-auth') {
      const required = this.#tlsRequiredNow;
      const starttls = this.transport.canStartTls ? el('starttls', { xmlns: NS.tls }, required ? el('required') : undefined) : undefined;
      // RFC 6120 §5.3.1: while TLS is mandatory-to-negotiate, offer nothing else (the mechanisms depend on it).
      if (required) return el('stream:features', {}, starttls).toString();
      const register = this.deps.config.allowRegistration ? el('register', { xmlns: NS_REGISTER_FEATURE }) : undefined;
      return el('stream:features', {}, starttls, this.#sasl.featuresElement(), register).toString();
    }
    return el(
      'stream:features',
      {},
      el('bind', { xmlns: NS.bind }),
      // RFC 6121 appendix E / 3921 session establishment, optional: old clients still ask.
      el('session', { xmlns: NS.session }, el('optional')),
      // RFC 6121 §2.6.1 roster versioning, §3.4 pre-approval.
      el('ver', { xmlns: NS.rosterver }),
      el('sub', { xmlns: 'urn:xmpp:features:pre-approval' }),
    ).toString();
  }

  #onStreamClose(): void {
    if (this.#phase === 'closed') return;
    // RFC 6120 §4.4 (RFC 7395 §3.6): answer the close with ours, then close the connection.
    this.#writeClose();
    this.#close(cluster.EndCause.END_CAUSE_GRACEFUL, 'stream closed by client');
    this.transport.end();
  }

  #onStanza(stanza: Element): void {
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
        return this.#session?.handle(stanza);
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
    const step = await this.#sasl.step(stanza);
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
      // RFC 6120 §6.4.6: the client restarts the stream; parse it afresh with the larger limit.
      this.#parser = this.#newParser(this.deps.config.maxStanzaBytes);
      this.#log.info('authenticated', { user: step.username });
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
    this.#sasl = new SaslNegotiation(this.deps.accounts, this.deps.config.domain, this.#mechanisms(), this.deps.config.scramIterations, (u) => this.deps.throttle.locked(u, '', performance.now()) === 'account');
    this.#tlsPending = false;
    this.#log.info('tls established', { protocol: tls.protocol, cipher: tls.cipher });
    this.transport.resume();
  }

  async #handleUnbound(stanza: Element): Promise<void> {
    const bind = stanza.name === 'iq' && stanza.attr('type') === 'set' ? stanza.getChild('bind', NS.bind) : undefined;
    if (bind === undefined || this.#username === undefined) {
      if (stanza.name === 'iq' && stanza.getChild('session', NS.session)) {
        this.#write(el('iq', { type: 'result', id: stanza.attr('id') }).toString());
        return;
      }
      return this.fail('not-authorized', 'bind a resource first');
    }
    const session = await SessionHandler.bind(stanza, bind, this.#username, {
      config: this.deps.config,
      accounts: this.deps.accounts,
      link: this.deps.link,
      log: this.#log,
      send: (xml) => this.send(xml),
      kick: (condition, text) => this.fail(condition, text, cluster.EndCause.END_CAUSE_KICKED),
    });
    if (session === undefined) return; // an error reply was sent; the client may try again
    this.#session = session;
    this.#phase = 'bound';
    this.deps.metrics?.loggedIn(this.#openedMs);
  }
}

function isStartTls(stanza: Element): boolean {
  return stanza.name === 'starttls' && stanza.ns === NS.tls;
}
