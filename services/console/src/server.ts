import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@vigil/telemetry';
import { ClusterApi } from './cluster-api.js';
import { ClusterWatch } from './cluster-watch.js';
import type { ConsoleConfig } from './config.js';
import { HttpError, securityHeaders, sendError } from './http.js';
import { dispatch, type DemoControl, type RouteContext } from './routes.js';
import { SessionStore } from './sessions.js';
import type { EventStream } from './sse.js';

/** The page and its bundle, made by `npm run build` (services/console/bundle.mjs). */
const PUBLIC_DIR = new URL('../dist/public/', import.meta.url);
const STATIC: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Thrown at start when the front-end bundle is missing. */
export class BundleMissingError extends Error {
  constructor(file: string, options: ErrorOptions) {
    super(`the console's page ${file} is missing: run npm run build`, options);
    this.name = 'BundleMissingError';
  }
}

function loadStatic(): Map<string, { body: Buffer; type: string }> {
  const out = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(STATIC)) {
    const url = new URL(file, PUBLIC_DIR);
    try {
      out.set(path, { body: readFileSync(url), type });
    } catch (e) {
      throw new BundleMissingError(fileURLToPath(url), { cause: e });
    }
  }
  return out;
}

export interface ConsoleOptions {
  /** The dev cluster's demo panel; absent everywhere else. */
  readonly demo?: DemoControl;
}

export interface ConsoleServer {
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the console's HTTP server; resolves once it listens. */
export async function startConsole(config: ConsoleConfig, log: Logger, options: ConsoleOptions = {}): Promise<ConsoleServer> {
  const files = loadStatic();
  const api = new ClusterApi(config.grpcServer, config.grpcTimeoutMs);
  const streams = new Set<EventStream>();
  const ctx: RouteContext = {
    api,
    sessions: new SessionStore({ idleMs: config.sessionIdleMs, max: config.maxSessions, now: () => performance.now() }),
    clusterWatch: new ClusterWatch(api, config.refreshMs, log),
    domain: config.domain,
    log,
    demo: options.demo,
    streams,
    maxStreams: config.maxStreams,
    secureCookies: false,
  };
  // The demo page connects to the nodes' WebSocket endpoints itself.
  const connectSrc = [...new Set(options.demo?.view.nodes.map((n) => new URL(n.wsUrl).origin.replace(/^http/, 'ws')) ?? [])];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    securityHeaders(res, connectSrc);
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    try {
      if (url.pathname.startsWith('/api/')) return await dispatch(ctx, req, res, url);
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const f = files.get(url.pathname);
      if (f === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) throw new HttpError(404, 'not-found', `no such page: ${url.pathname}`);
      res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.body.length });
      res.end(req.method === 'HEAD' ? undefined : f.body);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) {
        if (e.httpStatus >= 500) log.warn('console request failed', { path: url.pathname, code: e.code, err: e });
        sendError(res, e.httpStatus, e.code, e.message);
        return;
      }
      log.error('console request failed', { path: url.pathname, err: e });
      sendError(res, 500, 'internal', 'the console failed to answer; see its log');
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // event streams stay open
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info('ready', { url, grpcServer: config.grpcServer, demo: options.demo !== undefined });
  return {
    url,
    async close(): Promise<void> {
      ctx.clusterWatch.close();
      for (const s of [...streams]) s.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      api.close();
    },
  };
}
