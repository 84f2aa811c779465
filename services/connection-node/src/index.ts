export { type NodeConfig, readNodeConfig } from './config.js';
export { ClusterLink } from './cluster-link.js';
export { TcpListener } from './tcp-listener.js';
export { WebSocketListener } from './websocket-listener.js';
export { TlsCredentials, DEFAULT_TLS_CIPHERS } from './tls-credentials.js';
