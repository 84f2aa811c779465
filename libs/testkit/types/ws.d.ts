// Just enough typing of the ws 8 client (ws ships none; @types/ws is not installed) for the test kit.
declare module 'ws' {
  import type { IncomingMessage } from 'node:http';
  import type { ConnectionOptions } from 'node:tls';

  export interface ClientOptions extends Pick<ConnectionOptions, 'ca' | 'servername' | 'checkServerIdentity' | 'minVersion' | 'maxVersion'> {
    handshakeTimeout?: number;
    perMessageDeflate?: boolean;
  }

  export type RawData = Buffer | ArrayBuffer | Buffer[];

  export class WebSocket {
    static readonly CONNECTING: 0;
    static readonly OPEN: 1;
    constructor(url: string, protocols?: string | string[], options?: ClientOptions);
    readonly readyState: 0 | 1 | 2 | 3;
    readonly protocol: string;
    send(data: string | Buffer, cb?: (err?: Error) => void): void;
    close(code?: number, reason?: string): void;
    terminate(): void;
    on(event: 'open', listener: () => void): this;
    on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): this;
    on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'unexpected-response', listener: (request: unknown, response: IncomingMessage) => void): this;
  }
}
