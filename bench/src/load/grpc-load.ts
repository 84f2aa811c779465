/**
 * The GetPresence load generator of the grpc scenario, one child process
 * each (`startGrpcLoad` forks it): a grpc-js client on its own channel that
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
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { credentials, Metadata } from '@grpc/grpc-js';
import { api } from '@vigil/proto';

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
};

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
/** Young-generation semi-space of a load process, in MB (see start). */
const LOAD_SEMI_SPACE_MB = 2;

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

function runChild(): void {
  let client: api.presence.PresenceServiceClient | undefined;
  let job: LoadJob | undefined;
  const md = new Metadata();
  process.on('message', (m: ToChild) => {
    const reply = (r: FromChild) => process.send?.(r);
    switch (m.kind) {
      case 'job':
        job = m.job;
        md.set('authorization', `Bearer ${job.token}`);
        // No channelz bookkeeping per call: this process only measures.
        client = new api.presence.PresenceServiceClient(job.address, credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
        reply({ kind: 'ready' });
        return;
      case 'phase':
        if (client === undefined || job === undefined) return reply({ kind: 'error', message: 'phase before job' });
        void runPhase(client, md, job, m.durationMs, m.record).then(
          (result) => reply({ kind: 'result', result }),
          (e: unknown) => reply({ kind: 'error', message: e instanceof Error ? e.message : String(e) }),
        );
        return;
      case 'stop':
        client?.close();
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
async function runPhase(client: api.presence.PresenceServiceClient, md: Metadata, job: LoadJob, durationMs: number, record: boolean): Promise<LoadResult> {
  const total = Math.max(1, Math.round((job.rate * durationMs) / 1000));
  const intervalMs = 1000 / job.rate;
  const scheduled = new Float64Array(total);
  const sent = new Float64Array(total);
  const done = new Float64Array(total);
  const ok = new Uint8Array(total);
  const errors: string[] = [];
  let failed = 0;
  let answered = 0;
  const jids = Array.from({ length: job.users }, (_, i) => `g${i}@${job.domain}`);

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
        const jid = jids[(n * job.of + job.index) % job.users] as string;
        client.getPresence({ jid }, md, { deadline: Date.now() + job.deadlineMs }, (err) => answer(n, err));
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

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) runChild();
