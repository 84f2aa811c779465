import { WebSocket, type RawData } from 'ws';
import { DeadlineError } from './wait.js';

/** V8's view of a process's heap after a full collection (Runtime.getHeapUsage). */
export interface HeapUsage {
  /** Bytes of live objects. */
  readonly usedSize: number;
  /** Bytes V8 has reserved for the heap, live or not. */
  readonly totalSize: number;
}

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
}

/**
 * A Chrome DevTools Protocol client for a child started with
 * `--inspect=127.0.0.1:<port>` (ClusterOptions.inspect): forces a full
 * garbage collection and reads the live heap, or evaluates an expression,
 * without any test-only endpoint in the service itself. Loopback only.
 */
export class Inspector {
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: RawData) => this.#onMessage(data));
    socket.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('inspector connection closed'));
      this.#pending.clear();
    });
    socket.on('error', () => undefined);
  }

  /** Connects to the first target of the inspector listening on 127.0.0.1:port. */
  static async connect(port: number, timeoutMs = 10_000): Promise<Inspector> {
    const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(timeoutMs) });
    const targets = (await res.json()) as { webSocketDebuggerUrl?: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (url === undefined) throw new Error(`no inspector target on 127.0.0.1:${port}`);
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, [], { handshakeTimeout: timeoutMs, perMessageDeflate: false });
      socket.on('open', () => resolve(new Inspector(socket)));
      socket.on('error', reject);
    });
  }

  /** One CDP command; rejects with the protocol's error or after timeoutMs. */
  send(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new DeadlineError(`inspector ${method}`, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Full, compacting collections until the live heap stops shrinking (at most 5), then its size. */
  async collectGarbage(): Promise<HeapUsage> {
    let usage = await this.heapUsage();
    for (let i = 0; i < 5; i++) {
      await this.send('HeapProfiler.collectGarbage');
      const next = await this.heapUsage();
      const settled = next.usedSize >= usage.usedSize * 0.995;
      usage = next;
      if (settled) break;
    }
    return usage;
  }

  async heapUsage(): Promise<HeapUsage> {
    const r = (await this.send('Runtime.getHeapUsage')) as HeapUsage;
    return { usedSize: r.usedSize, totalSize: r.totalSize };
  }

  /** Evaluates a JavaScript expression in the child and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string };
    };
    if (r.exceptionDetails !== undefined) throw new Error(`evaluating ${expression}: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === 3) return resolve(); // CLOSED
      this.socket.on('close', () => resolve());
      this.socket.close();
    });
  }

  #onMessage(data: RawData): void {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const msg = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return; // events: none are enabled
    const p = this.#pending.get(msg.id);
    if (p === undefined) return;
    this.#pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new Error(`inspector: ${msg.error.message}`));
    else p.resolve(msg.result);
  }
}
