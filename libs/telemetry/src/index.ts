export { type LogLevel, type LogFields, type Logger, type LoggerOptions, createLogger, isLogLevel } from './log.js';
export { type Drainable, stopOnSignals } from './lifecycle.js';
