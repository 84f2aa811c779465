import type { Duplex } from 'node:stream';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from '@vigil/telemetry';
import { ClientStream, type ClientStreamDeps } from './client-stream.js';
import type { StreamSet } from './stream-set.js';
import { xmlStreamFraming } from './framing.js';
import type { TlsCredentials } from './tls-credentials.js';
import type { TlsInfo, Transport } from './transport.js';
import type { ClientWrites } from './client-writes.js';

export interface TcpListenerOptions {
  /** The node's certificate: STARTTLS is offered on plain connections. Absent: no TLS. */
  readonly tls?: TlsCredentials;
  /** XEP-0368 direct TLS: the handshake comes first, then the same stream logic. Needs `tls`. */
  readonly directTls?: boolean;
}

/** XMPP over TCP (RFC 6120 §3), plain with STARTTLS or direct TLS (XEP-0368): one ClientStream per connection. */
export class TcpListener {
  readonly #server: Server;
  readonly #connections = new Set<TcpConnection>();

  constructor(
    private readonly deps: ClientStreamDeps & { readonly log: Logger; readonly streams: StreamSet },
    private readonly options: TcpListenerOptions = {},
  ) {
    if (options.directTls === true && options.tls === undefined) throw new RangeError('direct TLS needs a certificate');
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#server.maxConnections = deps.config.maxConnections;
  }

  /** When the connections' corked writes leave (the node's, shared with its delivery queue). */
  get clientWrites(): ClientWrites {
    return this.deps.link.clientWrites;
  }

  get connections(): number {
    return this.#connections.size;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.removeListener('error', reject);
        const address = this.#server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting; the node ends the streams themselves (StreamSet). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) connection.destroySoon();
    await closed;
  }

  /** Shared by every stream of this listener (no closure per connection). */
  readonly #streamClosed = (stream: ClientStream): void => {
    this.deps.streams.delete(stream);
  };

  /** @internal A connection is gone (TcpConnection calls it once). */
  connectionClosed(connection: TcpConnection, hadError: boolean): void {
    this.#connections.delete(connection);
    connection.stream?.transportClosed(hadError ? 'socket error' : 'socket closed');
  }

  /** @internal A socket error (the close that follows ends the stream). */
  connectionError(connection: TcpConnection, err: Error): void {
    this.deps.log.debug('socket error', { err, stream: connection.stream?.id });
  }

  #accept(socket: Socket): void {
    socket.setKeepAlive(true, 30_000);
    this.deps.metrics?.accepted(this.options.directTls === true ? 'direct-tls' : 'tcp');
    const connection = new TcpConnection(socket, this.options.tls, this);
    this.#connections.add(connection);
    if (this.options.directTls !== true) return this.#startStream(connection);
    // XEP-0368: nothing is read before the handshake; a client that never finishes it gets the auth timeout.
    const timer = setTimeout(() => connection.destroy(), this.deps.config.authTimeoutMs);
    connection.startTls().then(
      () => {
        clearTimeout(timer);
        this.#startStream(connection);
        connection.resume();
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.deps.log.info('tls handshake failed', { err, remote: connection.remoteAddress, listener: 'direct-tls' });
        connection.destroy();
      },
    );
  }

  #startStream(connection: TcpConnection): void {
    const stream = new ClientStream(connection, this.deps, this.#streamClosed);
    this.deps.streams.add(stream);
    connection.stream = stream;
  }
}

/** The TcpConnection behind a socket, for the listener functions every socket shares. */
const CONNECTION = Symbol('vigil.connection');
type OwnedSocket = Socket & { [CONNECTION]?: TcpConnection };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION]?.stream?.receive(chunk);
}

function onSocketError(this: OwnedSocket, err: Error): void {
  const connection = this[CONNECTION];
  if (connection !== undefined) connection.listener.connectionError(connection, err);
}

function onSocketClose(this: OwnedSocket, hadError: boolean): void {
  this[CONNECTION]?.socketClosed(this, hadError);
}

/**
 * One TCP connection as a Transport. STARTTLS wraps the socket in a
 * server-side TLSSocket in place; from then on reads, writes, backpressure
 * and close go through the TLS socket.
 */
class TcpConnection implements Transport {
  readonly framing = xmlStreamFraming;
  readonly remoteAddress: string;
  /** The XMPP stream on this connection, once it started (after the handshake for direct TLS). */
  stream: ClientStream | undefined;
  #socket: Socket;
  #secure = false;
  #upgrading = false;
  #closed = false;

  constructor(
    private readonly raw: Socket,
    private readonly tls: TlsCredentials | undefined,
    readonly listener: TcpListener,
  ) {
    this.#socket = raw;
    this.remoteAddress = `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? 0}`;
    this.#listen(raw);
  }

  get secure(): boolean {
    return this.#secure;
  }

  get canStartTls(): boolean {
    return this.tls !== undefined && !this.#secure && !this.#upgrading;
  }

  startTls(): Promise<TlsInfo> {
    const tls = this.tls;
    if (tls === undefined || !this.canStartTls) return Promise.reject(new Error('TLS is not available on this connection'));
    this.#upgrading = true;
    // The <proceed/> leaves in plaintext on the TCP socket before TLS takes it over.
    this.uncork();
    // Plaintext the client sent after <starttls/> is never read as XMPP: from here the TLS socket owns the bytes.
    this.raw.removeListener('data', onSocketData);
    this.raw.pause();
    // Each new connection takes the context current now, so a SIGHUP reload applies from the next one on.
    const socket = new TLSSocket(this.raw, { isServer: true, secureContext: tls.context, requestCert: false });
    socket.pause();
    this.#socket = socket;
    this.#listen(socket);
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        socket.removeListener('secure', done);
        socket.removeListener('error', fail);
        socket.removeListener('close', closed);
      };
      const fail = (err: Error): void => {
        settle();
        reject(err);
      };
      const closed = (): void => fail(new Error('connection closed during the TLS handshake'));
      const done = (): void => {
        settle();
        this.#secure = true;
        this.#upgrading = false;
        const cipher = socket.getCipher();
        resolve({ protocol: socket.getProtocol() ?? 'unknown', cipher: cipher.standardName ?? cipher.name });
      };
      socket.once('secure', done);
      socket.once('error', fail);
      socket.once('close', closed);
    });
  }

  /**
   * Writes within one turn of the event loop leave in one syscall: a
   * fan-out delivers many stanzas to one socket back to back. During a
   * burst of deliveries, the writes of several turns (ClientWrites). They
   * are joined into one string rather than corked on the socket: one
   * stream write instead of a buffered chunk (object, callback) per stanza.
   */
  write(data: string): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (this.#pending === '') {
      this.#pending = data;
      this.#pendingOn = socket;
      this.listener.clientWrites.corked(this);
      return;
    }
    // STARTTLS swapped the socket within this turn: what the old one holds (the <proceed/>) leaves first, on it.
    if (this.#pendingOn !== socket) this.uncork();
    this.#pending = this.#pending === '' ? data : this.#pending + data;
    this.#pendingOn = socket;
  }

  /** @internal ClientWrites: what was written since the last write-out leaves now. */
  uncork(): void {
    const data = this.#pending;
    const socket = this.#pendingOn;
    this.#pending = '';
    this.#pendingOn = undefined;
    if (data !== '' && socket !== undefined && !socket.destroyed) socket.write(data);
  }

  /** Written and not yet handed to the socket, and the socket it is for. */
  #pending = '';
  #pendingOn: Duplex | undefined;

  get bufferedBytes(): number {
    // The socket's own buffer only: text held for a burst (ClientWrites, at most holdMs plus a slice) is not a client
    // that fails to read, and counting it could cut off a healthy client with a large roster during a node crash.
    return this.#socket.writableLength;
  }

  end(): void {
    this.uncork();
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
    this.raw.destroy();
  }

  destroySoon(): void {
    this.uncork();
    this.#socket.destroySoon();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  #listen(socket: OwnedSocket): void {
    socket[CONNECTION] = this;
    socket.on('data', onSocketData);
    // An error always has a listener: an unhandled TLS error would end the process.
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** @internal The raw socket or the TLS socket over it closed. */
  socketClosed(socket: Socket, hadError: boolean): void {
    // Closing the TLS socket releases the TCP socket under it too.
    if (socket !== this.raw) this.raw.destroy();
    if (this.#closed) return;
    this.#closed = true;
    this.listener.connectionClosed(this, hadError);
  }
}
