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

/** A child's methods must be called on it (`log.info(…)`), not detached: see createLogger. */
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

/**
 * A process's logger. Its methods may be passed around detached (a root is
 * made a few times per process, so binding costs nothing); a child's are
 * prototype methods, to be called on the child.
 */
export function createLogger(base: LogFields, options: LoggerOptions = {}): Logger {
  const root = new JsonLogger({ min: RANK[options.level ?? 'info'], write: options.write ?? writeStdout }, base, undefined);
  return {
    debug: root.debug.bind(root),
    info: root.info.bind(root),
    warn: root.warn.bind(root),
    error: root.error.bind(root),
    child: root.child.bind(root),
  };
}

function writeStdout(line: string): void {
  process.stdout.write(line);
}

interface Sink {
  readonly min: number;
  readonly write: (line: string) => void;
}

/**
 * Methods on the prototype and a child that only points at its parent: a
 * server makes a child per connection and per session, so a child must cost
 * one small object, not a set of closures and a copy of every field.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly fields: LogFields,
    private readonly parent: JsonLogger | undefined,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    if (RANK.debug >= this.sink.min) this.#emit('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    if (RANK.info >= this.sink.min) this.#emit('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    if (RANK.warn >= this.sink.min) this.#emit('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    if (RANK.error >= this.sink.min) this.#emit('error', msg, fields);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.sink, fields, this);
  }

  /** The outermost logger's fields first, as a child's spread over its parent's would be. */
  #addFields(record: LogFields): void {
    if (this.parent !== undefined) this.parent.#addFields(record);
    Object.assign(record, this.fields);
  }

  #emit(level: LogLevel, msg: string, fields?: LogFields): void {
    const record: LogFields = { time: new Date().toISOString(), level, msg };
    this.#addFields(record);
    // for…in rather than Object.entries: no array per field (a login logs a line; a fan-out of kicks logs many).
    if (fields) {
      for (const k in fields) {
        if (!Object.hasOwn(fields, k)) continue;
        const v = fields[k];
        record[k] = v instanceof Error ? errorFields(v) : v;
      }
    }
    const ids = activeTraceIds();
    if (ids) Object.assign(record, ids);
    this.sink.write(`${JSON.stringify(record)}\n`);
  }
}

function errorFields(e: Error): LogFields {
  return { name: e.name, message: e.message, ...(e.cause !== undefined ? { cause: String(e.cause) } : {}) };
}
