import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '@vigil/telemetry';
import { ClientStream, type ClientStreamDeps } from './client-stream.js';
import type { StreamSet } from './stream-set.js';
import type { TlsCredentials } from './tls-credentials.js';
import type { TlsInfo, Transport } from './transport.js';
import { webSocketFraming } from './websocket-framing.js';

/** RFC 7395 §3.1: the WebSocket subprotocol name. */
export const XMPP_SUBPROTOCOL = 'xmpp';

export interface WebSocketListenerOptions {
  /** HTTP path of the endpoint, e.g. /xmpp-websocket. */
  readonly path: string;
  /** Serve wss:// with the node's certificate; absent: ws:// (loopback, or behind a TLS-terminating proxy). */
  readonly tls?: TlsCredentials;
}

/**
 * XMPP over WebSocket (RFC 7395): an HTTP(S) server that upgrades requests
 * for one path offering the `xmpp` subprotocol, one ClientStream per socket.
 */
export class WebSocketListener {
  readonly #server: HttpServer | HttpsServer;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<WebSocket>();

  constructor(
    private readonly deps: ClientStreamDeps & { readonly log: Logger; readonly streams: StreamSet },
    private readonly options: WebSocketListenerOptions,
  ) {
    const { config } = deps;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // No permessage-deflate: compression of secrets next to attacker-chosen text leaks them (CRIME/BREACH),
      // the same reason XEP-0138 stream compression is not offered.
      perMessageDeflate: false,
      // A message up to twice the stanza limit is read and refused with a stream error the client can see;
      // anything bigger is cut off by ws itself (close 1009) before it is buffered.
      maxPayload: 2 * Math.max(config.maxStanzaBytes, config.preAuthMaxStanzaBytes),
      handleProtocols: (protocols) => (protocols.has(XMPP_SUBPROTOCOL) ? XMPP_SUBPROTOCOL : false),
    });
    this.#server = options.tls ? createHttpsServer(options.tls.options) : createHttpServer();
    this.#server.maxConnections = config.maxConnections;
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(request, socket, head));
    this.#server.on('request', (_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'close' });
      response.end('XMPP over WebSocket (RFC 7395): connect with the xmpp subprotocol\n');
    });
    // Handshake failures and resets before the upgrade concern no stream; keep them out of the error path.
    this.#server.on('clientError', (err, socket) => {
      deps.log.debug('http client error', { err });
      socket.destroy();
    });
  }

  get connections(): number {
    return this.#sockets.size;
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

  /** After a SIGHUP reload: new wss connections use the new certificate. */
  tlsReloaded(): void {
    if (this.options.tls && 'setSecureContext' in this.#server) this.#server.setSecureContext(this.options.tls.options);
  }

  /** Stops accepting; the node ends the streams themselves (StreamSet). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const ws of this.#sockets) ws.terminate();
    this.#wss.close();
    await closed;
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== this.options.path) return refuse(socket, 404, 'Not Found', `no XMPP endpoint at ${path}`);
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    // RFC 7395 §3.1: the subprotocol is how both ends know the messages are XMPP frames.
    if (!offered.includes(XMPP_SUBPROTOCOL)) {
      return refuse(socket, 400, 'Bad Request', `the ${XMPP_SUBPROTOCOL} WebSocket subprotocol is required (RFC 7395 §3.1)`);
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request));
  }

  #accept(ws: WebSocket, request: IncomingMessage): void {
    request.socket.setKeepAlive(true, 30_000);
    request.socket.setNoDelay(true);
    this.#sockets.add(ws);
    const transport: Transport = {
      remoteAddress: `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? 0}`,
      secure: this.options.tls !== undefined,
      framing: webSocketFraming,
      // RFC 7395 §3.9: TLS belongs to the WebSocket layer (wss); STARTTLS is never offered here.
      canStartTls: false,
      startTls: (): Promise<TlsInfo> => Promise.reject(new Error('no STARTTLS over WebSocket (RFC 7395 §3.9)')),
      write: (data) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(data);
      },
      get bufferedBytes() {
        return ws.bufferedAmount;
      },
      // RFC 7395 §3.6: after <close/> the WebSocket connection itself is closed.
      end: () => ws.close(1000),
      destroy: () => ws.terminate(),
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    };
    const stream = new ClientStream(transport, this.deps, (s) => this.deps.streams.delete(s));
    this.deps.streams.add(stream);
    ws.on('message', (data, isBinary) => {
      // RFC 7395 §3.2: XMPP travels in text messages only.
      if (isBinary) return stream.fail('bad-format', 'binary WebSocket messages are not XMPP (RFC 7395 §3.2)');
      stream.receive(toBuffer(data));
    });
    ws.on('error', (err) => this.deps.log.debug('websocket error', { err, stream: stream.id }));
    ws.on('close', (code) => {
      this.#sockets.delete(ws);
      stream.transportClosed(`websocket closed (${code})`);
    });
  }
}

function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body) + 1}\r\n\r\n${body}\n`);
}

/** ws hands text messages over as one Buffer by default; the other shapes only with other binaryType settings. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(new Uint8Array(data));
}
