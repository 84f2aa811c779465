import type { ServerResponse } from 'node:http';

/** Most bytes an event stream may have waiting for a slow browser before it is closed (it reconnects and re-reads). */
export const MAX_PENDING_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies from timing the stream out and finds closed tabs. */
export const KEEPALIVE_MS = 15_000;

/** One server-sent event stream (text/event-stream) to a browser. */
export class EventStream {
  #closed = false;
  readonly #keepalive: NodeJS.Timeout;
  readonly #onClose: (() => void)[] = [];

  constructor(readonly res: ServerResponse) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    this.#keepalive = setInterval(() => this.#write(': keepalive\n\n'), KEEPALIVE_MS);
    res.on('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(f: () => void): void {
    if (this.#closed) f();
    else this.#onClose.push(f);
  }

  /** `event: name` with the JSON body; a browser that cannot keep up is disconnected (bounded buffer). */
  send(event: string, data: unknown): void {
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #write(text: string): void {
    if (this.#closed) return;
    if (this.res.writableLength > MAX_PENDING_BYTES) {
      this.close();
      return;
    }
    this.res.write(text);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.res.end();
    for (const f of this.#onClose.splice(0)) f();
  }
}
