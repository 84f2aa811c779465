// Just enough typing of @xmpp/client (which ships none) for the test kit.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  export interface XmppElement {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (XmppElement | string)[];
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): XmppElement | undefined;
    getChildren(name: string, xmlns?: string): XmppElement[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    toString(): string;
  }

  export interface XmppJid {
    toString(): string;
    bare(): XmppJid;
    local: string;
    domain: string;
    resource: string;
  }

  export interface IqCaller {
    request(stanza: XmppElement, timeout?: number): Promise<XmppElement>;
  }

  /** What @xmpp/connection holds as `socket`: a net.Socket (TCP), or a wrapper with the real socket inside (TLS, WebSocket). */
  export type XmppSocket = Socket | XmppSocketWrapper;

  export interface XmppSocketWrapper {
    secure: boolean;
    url?: string | null;
    socket: unknown;
    _attachSocket(socket: unknown): void;
  }

  /** A transport class (@xmpp/connection-tcp, @xmpp/tls, @xmpp/websocket); the client calls its prototype's methods. */
  export interface XmppTransportPrototype {
    Socket: new () => XmppSocketWrapper;
    socketParameters(service: string): unknown;
  }
  export interface XmppTransport {
    new (...args: never[]): XmppTransportPrototype;
    prototype: XmppTransportPrototype;
  }

  export interface XmppClient extends EventEmitter {
    jid: XmppJid | null;
    status: string;
    socket: XmppSocket | null;
    transports: XmppTransport[];
    sendReceive(element: XmppElement, timeout?: number): Promise<XmppElement>;
    restart(): Promise<void>;
    _onElement(element: XmppElement): void;
    _attachSocket(socket: unknown): void;
    iqCaller: IqCaller;
    reconnect: { stop(): void };
    start(): Promise<XmppJid>;
    stop(): Promise<void>;
    send(...stanzas: XmppElement[]): Promise<void>;
    write(raw: string): Promise<void>;
  }

  export interface ClientOptions {
    service: string;
    domain: string;
    resource?: string;
    username?: string;
    password?: string;
    /** Called with the mechanisms both sides support, in the client's order of preference. */
    credentials?: (auth: (c: { username: string; password: string }, mechanism: string) => Promise<void>, mechanisms: string[]) => Promise<void>;
  }

  export function client(options: ClientOptions): XmppClient;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: (XmppElement | string)[]): XmppElement;
}
