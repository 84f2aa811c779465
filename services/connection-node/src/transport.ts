/** What a client stream needs from its connection; TCP now, WebSocket framing later. */
export interface Transport {
  readonly remoteAddress: string;
  readonly secure: boolean;
  write(data: string): void;
  /** Flush what was written, then close. */
  end(): void;
  /** Close at once. */
  destroy(): void;
  pause(): void;
  resume(): void;
}
