import { randomBytes } from 'node:crypto';
import {
  el, streamErrorXml, streamHeader, NS, STREAM_CLOSE, StreamParser,
  type Element, type StreamError, type StreamErrorCondition,
} from '@vigil/xmpp';
import type { AccountStore } from '@vigil/store';
import type { Logger } from '@vigil/telemetry';
import { cluster } from '@vigil/proto';
import type { NodeConfig } from './config.js';
import type { ClusterLink } from './cluster-link.js';
import type { Transport } from './transport.js';
import { SaslNegotiation, type Mechanism } from './sasl-negotiation.js';
import { SessionHandler } from './session-handler.js';
import { handleRegistration, NS_REGISTER, NS_REGISTER_FEATURE } from './registration.js';

type Phase = 'connected' | 'pre-auth' | 'authenticated' | 'bound' | 'closed';

/** RFC 6120 §6.4.5: a few retries, then the stream ends. */
const MAX_SASL_FAILURES = 3;

export interface ClientStreamDeps {
  readonly config: NodeConfig;
  readonly accounts: AccountStore;
  readonly link: ClusterLink;
  readonly log: Logger;
}

/**
 * One client connection, from stream header to close (RFC 6120): framing and
 * limits, SASL, resource binding, then hands stanzas to its SessionHandler.
 * Stanzas are processed strictly in order, one at a time; a bounded queue
 * with socket backpressure sits in front.
 */
export class ClientStream {
  readonly id = randomBytes(9).toString('base64url');
  #phase: Phase = 'connected';
  #parser: StreamParser;
  #username: string | undefined;
  #sasl: SaslNegotiation;
  #saslFailures = 0;
  #registered = false;
  #registrationFailures = 0;
  #session: SessionHandler | undefined;
  readonly #queue: Element[] = [];
  #processing = false;
  #authTimer: NodeJS.Timeout | undefined;
  readonly #log: Logger;

  constructor(
    private readonly transport: Transport,
    private readonly deps: ClientStreamDeps,
    private readonly onClosed: (stream: ClientStream) => void,
  ) {
    this.#log = deps.log.child({ stream: this.id, remote: transport.remoteAddress });
    this.#parser = this.#newParser(deps.config.preAuthMaxStanzaBytes);
    this.#sasl = new SaslNegotiation(deps.accounts, deps.config.domain, this.#mechanisms(), deps.config.scramIterations);
    this.#authTimer = setTimeout(() => this.fail('connection-timeout', 'no resource bound in time'), deps.config.authTimeoutMs);
  }

  get phase(): Phase {
    return this.#phase;
  }

  receive(chunk: Buffer): void {
    if (this.#phase !== 'closed') this.#parser.write(chunk);
  }

  /** The transport closed under us: whatever the session was, it is now lost unless it said goodbye. */
  transportClosed(reason: string): void {
    if (this.#phase === 'closed') return;
    this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, reason);
  }

  send(xml: string): void {
    if (this.#phase !== 'closed') this.transport.write(xml);
  }

  /** Ends the stream with a stream error (RFC 6120 §4.9) and closes the connection. */
  fail(condition: StreamErrorCondition, text?: string, cause: cluster.EndCause = cluster.EndCause.END_CAUSE_CLIENT_LOST): void {
    if (this.#phase === 'closed') return;
    if (this.#phase === 'connected') this.transport.write(this.#header());
    this.transport.write(streamErrorXml(condition, text) + STREAM_CLOSE);
    this.#log.info('stream error sent', { condition, text, user: this.#username });
    this.#close(cause, `stream error ${condition}`);
    this.transport.end();
  }

  #close(cause: cluster.EndCause, reason: string): void {
    this.#phase = 'closed';
    clearTimeout(this.#authTimer);
    this.#queue.length = 0;
    this.#session?.end(cause, reason);
    this.onClosed(this);
  }

  #mechanisms(): Mechanism[] {
    const plain = this.transport.secure || this.deps.config.allowPlainWithoutTls;
    return plain ? ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] : ['SCRAM-SHA-256', 'SCRAM-SHA-1'];
  }

  #newParser(maxStanzaBytes: number): StreamParser {
    return new StreamParser(
      {
        onStreamOpen: (attrs, ns) => this.#onStreamOpen(attrs, ns),
        onStanza: (stanza) => this.#enqueue(stanza),
        onStreamClose: () => this.#onStreamClose(),
        onError: (e: StreamError) => this.fail(e.condition, e.text ?? e.message),
      },
      { maxStanzaBytes, maxDepth: this.deps.config.maxDepth },
    );
  }

  #header(to?: string): string {
    return streamHeader({ from: this.deps.config.domain, id: randomBytes(12).toString('base64url'), lang: 'en', ...(to ? { to } : {}) });
  }

  #onStreamOpen(attrs: Record<string, string>, _ns: string): void {
    const wasConnected = this.#phase === 'connected';
    if (wasConnected) this.#phase = 'pre-auth';
    this.transport.write(this.#header(this.#username ? `${this.#username}@${this.deps.config.domain}` : undefined));
    // RFC 6120 §4.8.1: the content namespace of a client stream is jabber:client.
    if (attrs.xmlns !== NS.client) return this.fail('invalid-namespace', `default namespace must be ${NS.client}`);
    const to = (attrs.to ?? this.deps.config.domain).toLowerCase().replace(/\.$/, '');
    if (to !== this.deps.config.domain) return this.fail('host-unknown', `this server does not serve ${attrs.to ?? ''}`);
    const major = Number((attrs.version ?? '1.0').split('.')[0]);
    if (!(major === 1)) return this.fail('unsupported-version', 'only XMPP 1.0 streams are supported');
    this.transport.write(this.#features());
  }

  #features(): string {
    if (this.#phase === 'pre-auth') {
      const register = this.deps.config.allowRegistration ? el('register', { xmlns: NS_REGISTER_FEATURE }) : undefined;
      return el('stream:features', {}, this.#sasl.featuresElement(), register).toString();
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
    // RFC 6120 §4.4: answer the closing tag with ours, then close the connection.
    this.transport.write(STREAM_CLOSE);
    this.#close(cluster.EndCause.END_CAUSE_GRACEFUL, 'stream closed by client');
    this.transport.end();
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
    if (stanza.name === 'starttls' && stanza.ns === NS.tls) {
      // No TLS in this build: RFC 6120 §5.4.2.2 failure, then the stream ends.
      this.transport.write(`<failure xmlns='${NS.tls}'/>${STREAM_CLOSE}`);
      this.#close(cluster.EndCause.END_CAUSE_CLIENT_LOST, 'starttls not offered');
      this.transport.end();
      return;
    }
    const register = this.deps.config.allowRegistration && stanza.name === 'iq' ? stanza.getChild('query', NS_REGISTER) : undefined;
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
      this.transport.write(reply.toString());
      return;
    }
    if (stanza.ns !== NS.sasl) return this.fail('not-authorized', 'authenticate first');
    const step = await this.#sasl.step(stanza);
    if (this.#phase === 'closed') return;
    this.transport.write(step.xml);
    if (step.kind === 'failure') {
      this.#log.info('authentication failed', { condition: step.condition });
      if (++this.#saslFailures >= MAX_SASL_FAILURES) this.fail('policy-violation', 'too many failed authentication attempts');
      return;
    }
    if (step.kind === 'success') {
      this.#username = step.username;
      this.#phase = 'authenticated';
      // RFC 6120 §6.4.6: the client restarts the stream; parse it afresh with the larger limit.
      this.#parser = this.#newParser(this.deps.config.maxStanzaBytes);
      this.#log.info('authenticated', { user: step.username });
    }
  }

  async #handleUnbound(stanza: Element): Promise<void> {
    const bind = stanza.name === 'iq' && stanza.attr('type') === 'set' ? stanza.getChild('bind', NS.bind) : undefined;
    if (bind === undefined || this.#username === undefined) {
      if (stanza.name === 'iq' && stanza.getChild('session', NS.session)) {
        this.transport.write(el('iq', { type: 'result', id: stanza.attr('id') }).toString());
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
    clearTimeout(this.#authTimer);
  }
}
