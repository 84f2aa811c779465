import { WebSocket, type RawData } from 'ws';
import { DeadlineError } from './wait.js';

/** RFC 7395 framing namespace, for hand-written frames. */
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/** How a WebSocket handshake was refused: the HTTP status instead of 101. */
export class WebSocketRefusedError extends Error {
  constructor(readonly status: number) {
    super(`WebSocket handshake refused with HTTP ${status}`);
    this.name = 'WebSocketRefusedError';
  }
}

/**
 * A bare WebSocket for hostile-input tests (RFC 7395): send exact messages,
 * wait for a message matching a pattern, see how the server closes.
 */
export class RawWebSocket {
  readonly messages: string[] = [];
  #closeCode: number | undefined;
  readonly #waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(text(data));
      this.#notify();
    });
    socket.on('close', (code) => {
      this.#closeCode = code;
      this.#notify();
    });
    socket.on('error', () => undefined);
  }

  /** Opens `url` offering `protocols`; rejects with WebSocketRefusedError if the server answers the upgrade with an HTTP error. */
  static open(url: string, protocols: string[] = ['xmpp'], timeoutMs = 10_000): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, protocols, { handshakeTimeout: timeoutMs, perMessageDeflate: false });
      socket.on('open', () => resolve(new RawWebSocket(socket)));
      socket.on('unexpected-response', (_request, response) => {
        reject(new WebSocketRefusedError(response.statusCode ?? 0));
        response.resume();
        socket.terminate();
      });
      socket.on('error', reject);
    });
  }

  get protocol(): string {
    return this.socket.protocol;
  }

  /** The WebSocket close code once closed (1000 normal, 1009 too big, …). */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  send(message: string): void {
    this.socket.send(message);
  }

  /** The first message (already received or future) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const found = (): string | undefined => this.messages.find((m) => pattern.test(m));
    return this.#until(() => found() !== undefined, timeoutMs, `a message matching ${pattern}`).then(() => found() ?? '');
  }

  /** Resolves with the close code. */
  waitClosed(timeoutMs: number): Promise<number> {
    return this.#until(() => this.#closeCode !== undefined, timeoutMs, 'the server to close the WebSocket').then(() => this.#closeCode ?? 0);
  }

  destroy(): void {
    this.socket.terminate();
  }

  #until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new DeadlineError(`${what} (got ${JSON.stringify(this.messages.slice(-5))})`, timeoutMs));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** The client's RFC 7395 §3.4 stream opening to `domain`. */
export function clientOpenFrame(domain: string): string {
  return `<open xmlns='${NS_FRAMING}' to='${domain}' version='1.0'/>`;
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(new Uint8Array(data))).toString('utf8');
}
