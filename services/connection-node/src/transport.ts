import type { Framing } from './framing.js';

/** What TLS negotiated, for logs. */
export interface TlsInfo {
  readonly protocol: string;
  readonly cipher: string;
}

/** What a client stream needs from its connection: TCP (plain, STARTTLS, direct TLS) or WebSocket. */
export interface Transport {
  readonly remoteAddress: string;
  /** The bytes are protected by TLS (direct TLS, after STARTTLS, or wss); drives the PLAIN policy. */
  readonly secure: boolean;
  readonly framing: Framing;
  /** STARTTLS can be offered (RFC 6120 §5): a plain TCP connection on a node with a certificate. */
  readonly canStartTls: boolean;
  /**
   * The TLS handshake on this connection, as the server (after `<proceed/>`
   * was written). Resolves once it is done, with input paused until
   * `resume()`, so the stream can restart before any byte is read.
   */
  startTls(): Promise<TlsInfo>;
  /** Writes one framed unit (over WebSocket, one message). */
  write(data: string): void;
  /** Bytes written but not yet taken by the peer (a client that does not read makes this grow). */
  readonly bufferedBytes: number;
  /** Flush what was written, then close. */
  end(): void;
  /** Close at once. */
  destroy(): void;
  pause(): void;
  resume(): void;
}
