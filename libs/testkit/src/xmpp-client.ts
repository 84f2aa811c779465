import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { client, xml, type XmppClient, type XmppElement } from '@xmpp/client';
import { DeadlineError } from './wait.js';
import { installTransports, negotiateStartTls, tlsOptionsFor } from './xmpp-transports.js';

export type Stanza = XmppElement;
export { xml };

export interface TestClientOptions {
  readonly host?: string;
  /** XMPP over TCP at host:port (STARTTLS when offered); or give `service`. */
  readonly port?: number;
  /**
   * Instead of host and port: `xmpp://host:port` (STARTTLS when offered),
   * `xmpps://host:port` (XEP-0368 direct TLS), or a `ws://` / `wss://` URL
   * (RFC 7395).
   */
  readonly service?: string;
  /**
   * PEM certificate to trust instead of the system store (a test or dev
   * certificate). Either way the server must prove the XMPP `domain`.
   */
  readonly ca?: string;
  /** SASL mechanism to use instead of the client's choice (e.g. 'PLAIN'). */
  readonly mechanism?: string;
  readonly domain: string;
  readonly username: string;
  readonly password: string;
  readonly resource?: string;
  readonly timeoutMs?: number;
}

/** What TLS protects a client's connection with (see TestClient.tls). */
export interface ClientTls {
  readonly protocol: string;
  /** The server certificate's SHA-256 fingerprint, as node:tls formats it. */
  readonly fingerprint256: string;
}

const NS_STREAM = 'http://etherx.jabber.org/streams';

/** A position in one client's received stanzas (see TestClient.mark). */
export interface Mark {
  readonly client: TestClient;
  readonly index: number;
}

interface Waiter {
  readonly predicate: (s: Stanza) => boolean;
  readonly resolve: (s: Stanza) => void;
}

/**
 * A real @xmpp/client session with a log of what it received, so protocol
 * tests read as a conversation: send, then expect a stanza by a deadline.
 */
export class TestClient {
  readonly received: Stanza[] = [];
  readonly errors: unknown[] = [];
  /** Every <stream:features/> the server sent during login, in order (one per stream restart). */
  readonly features: Stanza[] = [];
  readonly #waiters = new Set<Waiter>();

  private constructor(readonly xmpp: XmppClient, readonly jid: string) {}

  static async connect(options: TestClientOptions): Promise<TestClient> {
    if (options.service === undefined && options.port === undefined) throw new RangeError('TestClient.connect needs a port or a service URL');
    const { username, password, mechanism } = options;
    const xmpp = client({
      service: options.service ?? `xmpp://${options.host ?? '127.0.0.1'}:${options.port ?? 0}`,
      domain: options.domain,
      username,
      password,
      ...(options.resource !== undefined ? { resource: options.resource } : {}),
      ...(mechanism !== undefined ? { credentials: (authenticate) => authenticate({ username, password }, mechanism) } : {}),
    });
    // Tests decide when a client comes back; an automatic reconnect would hide a crash.
    xmpp.reconnect.stop();
    const tls = tlsOptionsFor(options.domain, options.ca);
    installTransports(xmpp, tls);
    if (options.ca !== undefined) negotiateStartTls(xmpp, tls);
    // Recorded where elements enter the client, so features the STARTTLS step consumes are seen too.
    const features: Stanza[] = [];
    const onElement = xmpp._onElement.bind(xmpp);
    xmpp._onElement = (e: Stanza): void => {
      if (e.is('features', NS_STREAM) && features.length < 16) features.push(e);
      onElement(e);
    };
    const errors: unknown[] = [];
    xmpp.on('error', (e: unknown) => errors.push(e));
    const pending: Stanza[] = [];
    const early = (s: Stanza) => pending.push(s);
    xmpp.on('stanza', early);
    let timer: NodeJS.Timeout | undefined;
    const address = await Promise.race([
      xmpp.start(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(`login of ${options.username}`, options.timeoutMs ?? 15_000)), options.timeoutMs ?? 15_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const tc = new TestClient(xmpp, address.toString());
    tc.errors.push(...errors);
    tc.features.push(...features);
    xmpp.removeListener('stanza', early);
    xmpp.on('error', (e: unknown) => tc.errors.push(e));
    xmpp.on('stanza', (s: Stanza) => tc.#onStanza(s));
    for (const s of pending) tc.#onStanza(s);
    return tc;
  }

  /** TLS under this client's stream now (STARTTLS or direct TLS), or undefined (plain TCP, WebSocket). */
  get tls(): ClientTls | undefined {
    const socket = this.#tlsSocket();
    if (socket === undefined) return undefined;
    return { protocol: socket.getProtocol() ?? 'unknown', fingerprint256: socket.getPeerCertificate().fingerprint256 };
  }

  #tlsSocket(): TLSSocket | undefined {
    const socket = this.xmpp.socket;
    if (socket instanceof TLSSocket) return socket;
    if (socket !== null && !(socket instanceof Socket) && socket.socket instanceof TLSSocket) return socket.socket;
    return undefined;
  }

  get bareJid(): string {
    return this.jid.split('/')[0] ?? this.jid;
  }

  /** A point in this client's stream, to expect only what arrives after it. */
  mark(): Mark {
    return { client: this, index: this.received.length };
  }

  /** The first stanza matching `predicate` received after `from` (default: ever). */
  expectStanza(predicate: (s: Stanza) => boolean, timeoutMs: number, what: string, from?: Mark): Promise<Stanza> {
    if (from !== undefined && from.client !== this) throw new Error(`a mark of ${from.client.jid} used on ${this.jid}`);
    const seen = this.received.slice(from?.index ?? 0).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        // A stream the server already ended explains the wait: say so instead of leaving only the timeout.
        const ended = this.errors.length > 0 ? ` (the stream reported: ${this.errors.map(String).join('; ')})` : '';
        reject(new DeadlineError(`${this.jid} to receive ${what}${ended}`, timeoutMs, { cause: this.errors[0] }));
      }, timeoutMs);
      const waiter: Waiter = {
        predicate,
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Every presence stanza received whose bare 'from' is `bareJid`. */
  presencesFrom(bareJid: string): Stanza[] {
    return this.received.filter((s) => s.name === 'presence' && (s.attrs.from ?? '').split('/')[0] === bareJid);
  }

  async send(stanza: Stanza): Promise<void> {
    await this.xmpp.send(stanza);
  }

  async sendPresence(attrs: Record<string, string> = {}, ...children: Stanza[]): Promise<void> {
    await this.xmpp.send(xml('presence', attrs, ...children));
  }

  /** Sends an iq and resolves with the reply, result or error alike (matched by id). */
  async request(iq: Stanza, timeoutMs = 10_000): Promise<Stanza> {
    const id = iq.attrs.id ?? `t${++TestClient.#ids}`;
    iq.attrs.id = id;
    const mark = this.mark();
    const reply = this.expectStanza(
      (s) => s.name === 'iq' && s.attrs.id === id && (s.attrs.type === 'result' || s.attrs.type === 'error'),
      timeoutMs,
      `reply to iq ${id}`,
      mark,
    );
    await this.send(iq);
    return reply;
  }

  static #ids = 0;

  async rosterGet(timeoutMs = 10_000): Promise<{ jid: string; subscription: string; name?: string }[]> {
    const result = await this.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })), timeoutMs);
    const query = result.getChild('query', 'jabber:iq:roster');
    return (query?.getChildren('item') ?? []).map((i) => ({
      jid: i.attrs.jid ?? '',
      subscription: i.attrs.subscription ?? 'none',
      ...(i.attrs.name !== undefined ? { name: i.attrs.name } : {}),
    }));
  }

  /** The device stops reading (a frozen phone): nothing it receives is answered, the socket stays open. */
  freeze(): void {
    const socket = this.xmpp.socket;
    if (socket && 'pause' in socket) socket.pause();
  }

  /** The connection dies without a closing stream or unavailable presence. */
  crash(): void {
    const socket = this.xmpp.socket;
    if (socket === null) return;
    if (socket instanceof Socket) return void socket.destroy();
    // TLS and WebSocket wrappers: kill what is inside (a WebSocket without its closing handshake).
    const inner = socket.socket;
    if (inner instanceof Socket) inner.destroy();
    else if (inner instanceof Object && 'terminate' in inner && typeof inner.terminate === 'function') inner.terminate();
  }

  /** Graceful: closes the stream and the socket. */
  async stop(): Promise<void> {
    if (this.xmpp.status === 'offline' || this.xmpp.status === 'disconnect') return;
    try {
      await this.xmpp.stop();
    } catch {
      this.crash();
    }
  }

  #onStanza(s: Stanza): void {
    if (this.received.length < 100_000) this.received.push(s);
    for (const w of this.#waiters) {
      if (w.predicate(s)) {
        this.#waiters.delete(w);
        w.resolve(s);
      }
    }
  }
}

/** Predicates that read like the RFC. */
export const is = {
  presenceFrom: (fullOrBare: string, type?: string) => (s: Stanza) =>
    s.name === 'presence' &&
    (s.attrs.from === fullOrBare || (!fullOrBare.includes('/') && (s.attrs.from ?? '').split('/')[0] === fullOrBare)) &&
    (type === undefined ? s.attrs.type === undefined : s.attrs.type === type),
};

/** The defined condition of an error stanza (RFC 6120 §8.3), or undefined. */
export function errorCondition(s: Stanza): string | undefined {
  const error = s.getChild('error');
  return error?.children.find((c): c is Stanza => typeof c !== 'string' && c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas')?.name;
}
