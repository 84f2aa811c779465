import { connect, type Socket } from 'node:net';
import { DeadlineError } from './wait.js';

/**
 * A bare TCP connection for hostile-input tests: send exact bytes, wait for
 * text to appear in what the server sent back, see when it closes.
 */
export class RawConnection {
  #received = '';
  #closed = false;
  readonly #waiters = new Set<() => void>();
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.#received += d;
      this.#notify();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#closed = true;
        this.#notify();
        resolve();
      }),
    );
  }

  /** `localAddress` picks the client's own loopback address (127.0.0.2 …), to look like another host. */
  static open(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get received(): string {
    return this.#received;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Resolves once everything received so far matches `pattern`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    return this.#until(() => pattern.test(this.#received), timeoutMs, `server output matching ${pattern}`).then(() => this.#received);
  }

  waitClosed(timeoutMs: number): Promise<void> {
    return this.#until(() => this.#closed, timeoutMs, 'the server to close the connection');
  }

  destroy(): void {
    this.socket.destroy();
  }

  #until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new DeadlineError(`${what} (got ${JSON.stringify(this.#received.slice(-300))})`, timeoutMs));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** The opening of a client stream to `domain` (RFC 6120 §4.7). */
export function clientStreamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`;
}

/**
 * A raw connection authenticated with SASL PLAIN (the node must allow PLAIN
 * without TLS) on a restarted stream, and bound to `resource` when given.
 */
export async function rawSession(port: number, username: string, password: string, resource?: string, timeoutMs = 20_000): Promise<RawConnection> {
  const raw = await RawConnection.open(port);
  raw.send(clientStreamHeader('localhost'));
  await raw.waitFor(/<\/stream:features>/, timeoutMs);
  raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${username}\0${password}`).toString('base64')}</auth>`);
  await raw.waitFor(/<success/, timeoutMs);
  raw.send(clientStreamHeader('localhost'));
  await raw.waitFor(/<success[\s\S]*<\/stream:features>/, timeoutMs);
  if (resource === undefined) return raw;
  raw.send(`<iq type='set' id='bind-session'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  await raw.waitFor(/<jid>/, timeoutMs);
  return raw;
}
