import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '@vigil/telemetry';
import { cluster } from '@vigil/proto';
import { ClientStream, type ClientStreamDeps } from './client-stream.js';
import type { Transport } from './transport.js';

/** XMPP over TCP (RFC 6120 §3): one ClientStream per socket. */
export class TcpListener {
  readonly #server: Server;
  readonly #streams = new Set<ClientStream>();
  readonly #sockets = new Set<Socket>();

  constructor(private readonly deps: ClientStreamDeps & { readonly log: Logger }) {
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#server.maxConnections = deps.config.maxConnections;
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

  /** Stops accepting; existing streams end with `system-shutdown`. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const stream of [...this.#streams]) stream.fail('system-shutdown', 'server is shutting down', cluster.EndCause.END_CAUSE_GRACEFUL);
    for (const socket of this.#sockets) socket.destroySoon();
    await closed;
  }

  #accept(socket: Socket): void {
    socket.setKeepAlive(true, 30_000);
    this.#sockets.add(socket);
    const transport: Transport = {
      remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      secure: false,
      write: (data) => {
        if (!socket.destroyed) socket.write(data);
      },
      end: () => socket.end(),
      destroy: () => socket.destroy(),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    };
    const stream = new ClientStream(transport, this.deps, (s) => this.#streams.delete(s));
    this.#streams.add(stream);
    socket.on('data', (chunk: Buffer) => stream.receive(chunk));
    socket.on('error', (err) => this.deps.log.debug('socket error', { err, stream: stream.id }));
    socket.on('close', (hadError) => {
      this.#sockets.delete(socket);
      stream.transportClosed(hadError ? 'socket error' : 'socket closed');
    });
  }
}
