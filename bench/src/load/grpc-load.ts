/**
 * The GetPresence load generator of the grpc scenario, one child process
 * each (`GrpcLoadProcess.start` forks it): a gRPC client on its own
 * connection (`raw` by default: HTTP/2 framed by hand, h2-raw.ts) that
 * issues calls open-loop at a fixed rate and records, per call, the
 * scheduled time, the actual send and the answer.
 *
 * It runs in its own process so that nothing else the scenario does (the
 * cluster's log pipes, the XMPP clients, the report) shares its event loop or
 * its heap, and it keeps nothing per call beyond three numbers in
 * preallocated arrays: a load generator that retains a promise per call
 * makes its own garbage collector a large part of the latency it reports.
 * It reports its own event-loop delay and GC pauses, so a reader can tell
 * the client's share from the server's.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { credentials, Metadata } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { RawGrpcClient } from './h2-raw.js';

export type LoadJob = {
  readonly address: string;
  readonly token: string;
  readonly domain: string;
  readonly users: number;
  /** This process's share of the requests per second. */
  readonly rate: number;
  /** This process issues global request numbers index, index + of, index + 2·of, … (so the JIDs asked about interleave). */
  readonly index: number;
  readonly of: number;
  readonly deadlineMs: number;
  /**
   * `raw`: gRPC over HTTP/2 framed by hand on one socket (h2-raw.ts; no
   * object per call but the callback and the decoded answer), `http2`: the
   * lean node:http2 client (below), `grpc-js`: grpc-js's generated client
   * (each call builds interceptors, metadata, a call object and a stream,
   * and the client's own garbage collection was the cause of most of the
   * slowest calls against a server that paused little).
   */
  readonly client: GrpcLoadClient;
};

export type GrpcLoadClient = 'raw' | 'http2' | 'grpc-js';
export const GRPC_LOAD_CLIENTS: readonly GrpcLoadClient[] = ['raw', 'http2', 'grpc-js'];

/** One phase's results from one load process; latency arrays in milliseconds, in issue order. */
export type LoadResult = {
  readonly issued: number;
  readonly elapsedMs: number;
  readonly latencyMs: number[];
  readonly fromScheduleMs: number[];
  readonly lagMs: number[];
  readonly failed: number;
  readonly errors: string[];
  /** CPU this process used during the phase. */
  readonly cpuMs: number;
  /** This process's own event-loop delay during the phase (1 ms resolution) and its GC pauses. */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  readonly gcPauses: number;
  readonly gcTotalMs: number;
  readonly gcMaxMs: number;
};

type ToChild = { kind: 'job'; job: LoadJob } | { kind: 'phase'; durationMs: number; record: boolean } | { kind: 'stop' };
type FromChild = { kind: 'ready' } | { kind: 'result'; result: LoadResult } | { kind: 'error'; message: string };

const MAX_ERRORS_KEPT = 5;
const GET_PRESENCE_PATH = '/vigil.presence.v1.PresenceService/GetPresence';
/** Young-generation semi-space of a load process, in MB (see start); VIGIL_BENCH_GRPC_SEMI_SPACE_MB for experiments. */
const LOAD_SEMI_SPACE_MB = Number(process.env.VIGIL_BENCH_GRPC_SEMI_SPACE_MB ?? 2);

/** The parent's handle on one load process. */
export class GrpcLoadProcess {
  readonly #child: ChildProcess;
  #pending: { resolve: (m: FromChild) => void; reject: (e: Error) => void } | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (m: FromChild) => {
      const p = this.#pending;
      this.#pending = undefined;
      p?.resolve(m);
    });
    child.on('exit', (code, signal) => {
      const p = this.#pending;
      this.#pending = undefined;
      p?.reject(new Error(`grpc load process exited (code ${code}, signal ${signal}) before answering`));
    });
  }

  static async start(job: LoadJob): Promise<GrpcLoadProcess> {
    // A large young generation: grpc-js's per-call objects outlive a scavenge here (about 3 MB copied and
    // promoted at every one, 5–12 ms pauses every ~150 ms with the default size, seen with --trace-gc-nvp), so
    // scavenges that come four times less often stall four times fewer calls. A measuring tool's setting, not a
    // service's.
    const execArgv = [...process.execArgv, `--max-semi-space-size=${LOAD_SEMI_SPACE_MB}`];
    const p = new GrpcLoadProcess(fork(new URL(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv }));
    const m = await p.#ask({ kind: 'job', job });
    if (m.kind !== 'ready') throw new Error(`grpc load process: expected ready, got ${m.kind}`);
    return p;
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  /** Runs one phase at the job's rate; resolves with what it measured (empty arrays when record is false). */
  async phase(durationMs: number, record: boolean): Promise<LoadResult> {
    const m = await this.#ask({ kind: 'phase', durationMs, record });
    if (m.kind === 'error') throw new Error(`grpc load process: ${m.message}`);
    if (m.kind !== 'result') throw new Error(`grpc load process: expected a result, got ${m.kind}`);
    return m.result;
  }

  stop(): void {
    if (this.#child.connected) this.#child.send({ kind: 'stop' } satisfies ToChild);
    else this.#child.kill();
  }

  #ask(m: ToChild): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#child.send(m);
    });
  }
}

// --- the child side -----------------------------------------------------------

/** Issues one GetPresence call about `jids[i]`; `done` runs once with null or the call's error. */
export type Caller = { call(i: number, done: (err: Error | null) => void): void; close(): void };

function grpcJsCaller(job: LoadJob, jids: readonly string[]): Caller {
  const md = new Metadata();
  md.set('authorization', `Bearer ${job.token}`);
  // No channelz bookkeeping per call: this process only measures.
  const client = new api.presence.PresenceServiceClient(job.address, credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
  return {
    call: (i, done) => {
      client.getPresence({ jid: jids[i] as string }, md, { deadline: Date.now() + job.deadlineMs }, (err) => done(err));
    },
    close: () => client.close(),
  };
}

/** GetPresence requests as gRPC messages (5-byte prefix and the encoded GetPresenceRequest), one per JID, encoded once. */
function requestFrames(jids: readonly string[]): Buffer[] {
  return jids.map((jid) => {
    const m = api.presence.GetPresenceRequest.encode({ jid }).finish();
    const b = Buffer.allocUnsafe(5 + m.length);
    b[0] = 0;
    b.writeUInt32BE(m.length, 1);
    b.set(m, 5);
    return b;
  });
}

/**
 * The raw client (h2-raw.ts) on one connection. A call succeeds when the
 * server's grpc-status is 0 and its one response message decodes as a
 * GetPresenceResponse about the JID asked for.
 */
export function rawCaller(job: LoadJob, jids: readonly string[]): Caller {
  const colon = job.address.lastIndexOf(':');
  const host = job.address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(job.address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new RangeError(`address must be host:port, got ${JSON.stringify(job.address)}`);
  const frames = requestFrames(jids);
  const client = new RawGrpcClient({
    host, port, path: GET_PRESENCE_PATH, deadlineMs: job.deadlineMs,
    metadata: [['authorization', `Bearer ${job.token}`]],
    check: (i, buf, start, end) => {
      const r = api.presence.GetPresenceResponse.decode(buf.subarray(start, end));
      const want = jids[i];
      return r.presence?.jid === want ? null : `answer about ${JSON.stringify(r.presence?.jid ?? null)}, asked about ${want}`;
    },
  });
  return {
    call: (i, done) => client.call(i, frames[i] as Buffer, done),
    close: () => client.close(),
  };
}

/** The status of a gRPC response from its trailers (or the headers of a trailers-only response); undefined when absent. */
function grpcStatus(h: http2.IncomingHttpHeaders): number | undefined {
  const v = h['grpc-status'];
  return typeof v === 'string' ? Number(v) : undefined;
}

/**
 * A lean gRPC client for this one call: one HTTP/2 session, the request
 * frames (5-byte gRPC prefix and the encoded GetPresenceRequest) encoded
 * once per JID, one header object for every call, and per call only Node's
 * HTTP/2 stream and three listeners. A call succeeds when the server's
 * grpc-status is 0 and a response message of at least one frame prefix
 * arrived; the answer is not decoded (the scenario measures latency, and
 * the server's encoding is covered by the API's tests).
 */
export function http2Caller(job: LoadJob, jids: readonly string[]): Caller {
  const session = http2.connect(`http://${job.address}`);
  session.on('error', () => undefined); // each open stream reports it as its own error
  const frames = requestFrames(jids);
  const headers = {
    ':method': 'POST',
    ':path': GET_PRESENCE_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${job.token}`,
    'grpc-timeout': `${job.deadlineMs}m`,
  };
  return {
    call: (i, done) => {
      const stream = session.request(headers);
      // grpc-timeout only asks the server; the client gives up on its own too, so a stalled server cannot hang the run.
      const deadline = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), job.deadlineMs + 1000);
      let bytes = 0;
      let finished = false;
      // The call is over when its status arrives (the trailers, or the headers of a trailers-only answer), as for
      // any gRPC client: not at the stream's 'close', which Node emits a turn or more later.
      const finish = (status: number | undefined, message: string): void => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        if (status === 0 && bytes >= 5) done(null);
        else if (status !== undefined && status !== 0) done(new Error(`grpc-status ${status}: ${percentDecoded(message)}`));
        else done(new Error(`stream closed without an answer (HTTP/2 code ${stream.rstCode ?? 'none'}, ${bytes} bytes)`));
      };
      stream.on('response', (h) => {
        const status = grpcStatus(h);
        if (status !== undefined) finish(status, String(h['grpc-message'] ?? ''));
      });
      stream.on('trailers', (t) => finish(grpcStatus(t), String(t['grpc-message'] ?? '')));
      stream.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      stream.on('error', () => undefined); // reported by 'close' below
      stream.on('close', () => finish(undefined, ''));
      stream.end(frames[i]);
    },
    close: () => session.close(),
  };
}

/** grpc-message is percent-encoded; a malformed one is shown as it came rather than failing the call's report. */
function percentDecoded(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

function runChild(): void {
  let caller: Caller | undefined;
  let job: LoadJob | undefined;
  let jids: string[] = [];
  process.on('message', (m: ToChild) => {
    const reply = (r: FromChild) => process.send?.(r);
    switch (m.kind) {
      case 'job':
        job = m.job;
        jids = Array.from({ length: job.users }, (_, i) => `g${i}@${(job as LoadJob).domain}`);
        caller = job.client === 'raw' ? rawCaller(job, jids) : job.client === 'http2' ? http2Caller(job, jids) : grpcJsCaller(job, jids);
        reply({ kind: 'ready' });
        return;
      case 'phase':
        if (caller === undefined || job === undefined) return reply({ kind: 'error', message: 'phase before job' });
        void runPhase(caller, job, m.durationMs, m.record).then(
          (result) => reply({ kind: 'result', result }),
          (e: unknown) => reply({ kind: 'error', message: e instanceof Error ? e.message : String(e) }),
        );
        return;
      case 'stop':
        caller?.close();
        process.disconnect();
        return;
    }
  });
}

/**
 * Issues calls at `job.rate` per second for `durationMs`, on schedule (open
 * loop): a timer every millisecond issues every call that is due. Waits for
 * every answer. Nothing is kept per call but its three times.
 */
async function runPhase(caller: Caller, job: LoadJob, durationMs: number, record: boolean): Promise<LoadResult> {
  const total = Math.max(1, Math.round((job.rate * durationMs) / 1000));
  const intervalMs = 1000 / job.rate;
  const scheduled = new Float64Array(total);
  const sent = new Float64Array(total);
  const done = new Float64Array(total);
  const ok = new Uint8Array(total);
  const errors: string[] = [];
  let failed = 0;
  let answered = 0;

  const delay = monitorEventLoopDelay({ resolution: 1 });
  const gc: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push(e.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  delay.enable();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const answer = (n: number, err: Error | null): void => {
      done[n] = performance.now();
      if (err === null) ok[n] = 1;
      else {
        failed += 1;
        if (errors.length < MAX_ERRORS_KEPT) errors.push(`GetPresence: ${err.name}: ${err.message}`);
      }
      answered += 1;
      if (answered === total) resolve();
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      while (issued < due) {
        const n = issued++;
        scheduled[n] = start + n * intervalMs;
        sent[n] = performance.now();
        caller.call((n * job.of + job.index) % job.users, (err) => answer(n, err));
      }
      if (issued < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  observer.disconnect();
  const latencyMs: number[] = [];
  const fromScheduleMs: number[] = [];
  const lagMs: number[] = [];
  const dumpDir = process.env.VIGIL_GRPC_SLOW_DUMP;
  if (record && dumpDir !== undefined && dumpDir !== '') dumpSlowCalls(dumpDir, total, sent, done, ok);
  if (record) {
    for (let n = 0; n < total; n++) {
      if (ok[n] !== 1) continue;
      latencyMs.push((done[n] as number) - (sent[n] as number));
      fromScheduleMs.push((done[n] as number) - (scheduled[n] as number));
      lagMs.push((sent[n] as number) - (scheduled[n] as number));
    }
  }
  return {
    issued: total, elapsedMs, latencyMs, fromScheduleMs, lagMs, failed, errors,
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
    gcPauses: gc.length,
    gcTotalMs: gc.reduce((a, b) => a + b, 0),
    gcMaxMs: gc.reduce((a, b) => Math.max(a, b), 0),
  };
}

/**
 * Measuring aid: `VIGIL_GRPC_SLOW_DUMP=DIR` writes the calls slower than 2 ms
 * (send time on the wall clock in microseconds, latency in ms) to
 * DIR/vigil-grpc-slow-<pid>.json, to lay beside the services' GC pauses and
 * late timer turns from bench/tools/grpc-timing.mjs (same clock).
 */
function dumpSlowCalls(dir: string, total: number, sent: Float64Array, done: Float64Array, ok: Uint8Array): void {
  const slow: [number, number][] = [];
  for (let n = 0; n < total; n++) {
    const ms = (done[n] as number) - (sent[n] as number);
    if (ok[n] === 1 && ms > 2) slow.push([Math.round((performance.timeOrigin + (sent[n] as number)) * 1000), Math.round(ms * 1000) / 1000]);
  }
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `vigil-grpc-slow-${process.pid}.json`), JSON.stringify({ total, slow }));
  } catch (e) {
    // A measuring aid: the run's figures stand without it.
    process.stderr.write(`grpc load: could not write the slow calls to ${dir}: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) runChild();
