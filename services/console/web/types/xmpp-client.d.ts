// Just enough typing of @xmpp/client's browser build (the package ships none) for the demo panel.
declare module '@xmpp/client' {
  export interface XmppElement {
    name: string;
    attrs: Record<string, string | undefined>;
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): XmppElement | undefined;
    getChildren(name: string, xmlns?: string): XmppElement[];
    getChildText(name: string, xmlns?: string): string | null;
  }

  export interface XmppClient {
    status: string;
    /** The transport: for WebSocket, a wrapper holding the browser's WebSocket. */
    socket: { socket?: WebSocket } | null;
    reconnect: { stop(): void };
    iqCaller: { request(stanza: XmppElement, timeoutMs?: number): Promise<XmppElement> };
    on(event: 'stanza', listener: (s: XmppElement) => void): this;
    on(event: 'status', listener: (status: string) => void): this;
    on(event: 'error', listener: (e: Error) => void): this;
    start(): Promise<unknown>;
    stop(): Promise<void>;
    send(...stanzas: XmppElement[]): Promise<void>;
  }

  export function client(options: { service: string; domain: string; username: string; password: string; resource?: string }): XmppClient;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: (XmppElement | string)[]): XmppElement;
}
