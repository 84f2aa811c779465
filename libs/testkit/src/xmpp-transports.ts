import { once } from 'node:events';
import { Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, TLSSocket, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { WebSocket } from 'ws';
import { xml, type XmppClient, type XmppElement, type XmppTransport } from '@xmpp/client';

const NS_STREAM = 'http://etherx.jabber.org/streams';
const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';

/**
 * How the test kit's client checks a server certificate: against the XMPP
 * domain, not the host it dialled (RFC 6120 §13.7.2.1, RFC 6125), trusting
 * `ca` (a test certificate) instead of the system store when given.
 */
export function tlsOptionsFor(domain: string, ca: string | undefined): ConnectionOptions {
  return {
    servername: domain,
    ...(ca !== undefined ? { ca } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(domain, cert),
  };
}

/**
 * Makes @xmpp/client use `tls` for XEP-0368 direct TLS (xmpps:) and the ws
 * package for RFC 7395 (ws:, wss:): @xmpp/websocket expects a global
 * WebSocket, which Node 20 has only behind a flag, and @xmpp/tls passes no
 * CA or server name of its own.
 */
export function installTransports(xmpp: XmppClient, tls: ConnectionOptions): void {
  const directTls = findTransport(xmpp, 'xmpps://localhost:5223');
  const webSocket = findTransport(xmpp, 'ws://localhost/xmpp-websocket');
  xmpp.transports.unshift(directTlsTransport(directTls, tls), webSocketTransport(webSocket, tls));
}

function findTransport(xmpp: XmppClient, service: string): XmppTransport {
  const found = xmpp.transports.find((t) => {
    try {
      return t.prototype.socketParameters(service) !== undefined;
    } catch {
      return false;
    }
  });
  if (found === undefined) throw new Error(`@xmpp/client has no transport for ${service}`);
  return found;
}

function directTlsTransport(Base: XmppTransport, tls: ConnectionOptions): XmppTransport {
  return class DirectTlsWithTrust extends Base {
    override socketParameters(service: string): unknown {
      const params = Base.prototype.socketParameters(service);
      return typeof params === 'object' && params !== null ? { ...params, ...tls } : params;
    }
  };
}

function webSocketTransport(Base: XmppTransport, tls: ConnectionOptions): XmppTransport {
  const BaseSocket = Base.prototype.Socket;
  class NodeWebSocket extends BaseSocket {
    connect(url: string): void {
      this.url = url;
      this.secure = url.startsWith('wss:');
      // RFC 7395 §3.1: the xmpp subprotocol; no permessage-deflate (the server offers none either).
      this._attachSocket(new WebSocket(url, ['xmpp'], { ...pickWsTls(tls), perMessageDeflate: false }));
    }
  }
  const transport = class WebSocketWithNode extends Base {};
  Object.defineProperty(transport.prototype, 'Socket', { value: NodeWebSocket });
  return transport;
}

function pickWsTls(tls: ConnectionOptions): Pick<ConnectionOptions, 'ca' | 'servername' | 'checkServerIdentity'> {
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...(tls.checkServerIdentity !== undefined ? { checkServerIdentity: tls.checkServerIdentity } : {}),
  };
}

/**
 * STARTTLS (RFC 6120 §5.4) with the test kit's trust settings. @xmpp/starttls
 * 0.14 upgrades with tls.connect({ socket, host }) and nothing else, so a
 * test certificate could only be trusted process-wide (NODE_EXTRA_CA_CERTS
 * read at start, or NODE_TLS_REJECT_UNAUTHORIZED=0, which checks nothing).
 * Instead the client's features are intercepted: when they offer STARTTLS on
 * a plain socket, this negotiates it and restarts the stream; the client's
 * own handlers see only the features of the encrypted stream.
 */
export function negotiateStartTls(xmpp: XmppClient, tls: ConnectionOptions): void {
  const onElement = xmpp._onElement.bind(xmpp);
  xmpp._onElement = (element: XmppElement): void => {
    const socket = xmpp.socket;
    const offered = element.is('features', NS_STREAM) && element.getChild('starttls', NS_TLS) !== undefined;
    if (!offered || !(socket instanceof Socket) || socket instanceof TLSSocket) return onElement(element);
    upgrade(xmpp, socket, tls).catch((err: unknown) => {
      xmpp.emit('error', err);
      socket.destroy();
    });
  };
}

async function upgrade(xmpp: XmppClient, socket: Socket, tls: ConnectionOptions): Promise<void> {
  const reply = await xmpp.sendReceive(xml('starttls', { xmlns: NS_TLS }));
  if (!reply.is('proceed', NS_TLS)) throw new Error(`STARTTLS refused: ${reply.toString()}`);
  const secure = tlsConnect({ ...tls, socket });
  await once(secure, 'secureConnect');
  // @xmpp/client reads `secure` to decide what it may send (its own TLS socket wrapper sets it too).
  xmpp._attachSocket(Object.assign(secure, { secure: true }));
  await xmpp.restart();
}
