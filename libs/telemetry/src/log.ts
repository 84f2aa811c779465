import { activeTraceIds } from './tracing.js';

/**
 * Structured logs: one JSON object per line on stdout. Fields are flat and
 * named the same across services (service, node, user, session, cause).
 * Inside an active span a record carries `trace_id` and `span_id`, so a log
 * line leads to its trace.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly write?: (line: string) => void;
}

export function isLogLevel(s: string): s is LogLevel {
  return s in RANK;
}

export function createLogger(base: LogFields, options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    const record: LogFields = { time: new Date().toISOString(), level, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) record[k] = v instanceof Error ? errorFields(v) : v;
    const ids = activeTraceIds();
    if (ids) Object.assign(record, ids);
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}

function errorFields(e: Error): LogFields {
  return { name: e.name, message: e.message, ...(e.cause !== undefined ? { cause: String(e.cause) } : {}) };
}
