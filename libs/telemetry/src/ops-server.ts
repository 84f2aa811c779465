import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from './log.js';

/** One readiness check: true when this part can do its job now. */
export type ReadinessChecks = () => Record<string, boolean> | Promise<Record<string, boolean>>;

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
  /** The Prometheus exposition; absent: /metrics is 404. */
  readonly metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * The small HTTP server every long-running process serves for its operators:
 * `/metrics` (Prometheus text), `/livez` (the event loop answers) and
 * `/readyz` (200 only when every readiness check passes; 503 with the failing
 * checks otherwise, and until the process says what readiness means).
 */
export class OpsServer {
  readonly #server: Server;
  #checks: ReadinessChecks | undefined;

  constructor(private readonly options: OpsServerOptions) {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        options.log.error('ops endpoint failed', { path: req.url, err: e });
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    // Probes and scrapes are short; a stuck client must not hold a socket for long.
    this.#server.requestTimeout = 10_000;
    this.#server.headersTimeout = 5_000;
    this.#server.keepAliveTimeout = 5_000;
  }

  /** What readiness means for this process; until set, /readyz answers 503 "starting". */
  setReadiness(checks: ReadinessChecks): void {
    this.#checks = checks;
  }

  listen(): Promise<number> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.removeListener('error', reject);
        const a = this.#server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'method not allowed' });
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/livez':
        return send(res, 200, { status: 'alive' });
      case '/readyz': {
        if (this.#checks === undefined) return send(res, 503, { status: 'starting', checks: {} });
        const checks = await this.#checks();
        const ready = Object.values(checks).every((ok) => ok);
        return send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
      }
      case '/metrics':
        if (this.options.metrics) return this.options.metrics(req, res);
        return send(res, 404, { error: 'metrics are off' });
      default:
        return send(res, 404, { error: 'not found', paths: ['/livez', '/readyz', '/metrics'] });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
