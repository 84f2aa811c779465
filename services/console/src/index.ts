export { type ConsoleConfig, readConsoleConfig, describeConsoleConfig } from './config.js';
export { type ConsoleOptions, type ConsoleServer, BundleMissingError, startConsole } from './server.js';
export type { DemoControl } from './routes.js';
export type { DemoView } from './view.js';
