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

  export interface XmppClient extends EventEmitter {
    jid: XmppJid | null;
    status: string;
    socket: Socket | null;
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
    credentials?: (auth: (c: { username: string; password: string }) => Promise<void>, mechanism: string) => Promise<void>;
  }

  export function client(options: ClientOptions): XmppClient;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: (XmppElement | string)[]): XmppElement;
}
