export { type NodeConfig, readNodeConfig } from './config.js';
export { ClusterLink } from './cluster-link.js';
export { TcpListener } from './tcp-listener.js';
