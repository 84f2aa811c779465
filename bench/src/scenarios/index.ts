/** Every scenario `main.ts` can run, in the order `npm run bench` runs them. */
import type { AnyBenchReport } from '../report.js';
import { runCrashDetect } from './crash-detect.js';
import { runFanOut, type FanOutMode } from './fan-out.js';
import { runGrpcBench } from './grpc.js';
import type { GrpcLoadClient } from '../load/grpc-load.js';
import { runHeartbeatCost } from './heartbeat-cost.js';
import { runLoginRate } from './login-rate.js';
import { runMemory } from './memory.js';
import { runSilentDeath } from './silent-death.js';
import { runPreauthMemory } from './preauth-memory.js';
import { runImport } from './import.js';

/** The command-line knobs; each scenario says what `size` means for it. */
export type CommonOptions = {
  readonly trials?: number;
  readonly size?: number;
  readonly concurrency?: number;
  readonly warmup?: number;
  /** Contacts per user (login-rate, node-crash, node-freeze, mass-disconnect). */
  readonly contacts?: number;
  /** Connection nodes (node-crash, node-freeze, mass-disconnect: the victims on one, observers spread over the rest). */
  readonly nodes?: number;
  /** grpc: the load processes' client (checked by the scenario). */
  readonly client?: string;
  /** grpc: seconds of measured GetPresence load (default 10). */
  readonly seconds?: number;
  /** grpc: seconds of unmeasured load before it (default 10). */
  readonly warmupSeconds?: number;
  readonly signal?: AbortSignal;
};

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** What `--size` means here. */
  readonly size: string;
  run(options: CommonOptions): Promise<AnyBenchReport>;
}

/** Only defined options pass through, so a scenario's own defaults apply to the rest. */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'crash-detect',
    description: "time from a client's socket dying to its contact on another node receiving unavailable (default 200 trials, 4 at a time)",
    size: 'idle background sessions online during the trials (default 0)',
    run: (o) =>
      runCrashDetect(defined({ trials: o.trials, background: o.size, concurrency: o.concurrency, warmup: o.warmup, signal: o.signal })),
  },
  {
    name: 'login-rate',
    description: 'full logins per second (stream, SCRAM-SHA-256, bind, roster of 20, initial presence) at bounded concurrency (default 64)',
    size: 'users logging in (default 2000)',
    run: (o) => runLoginRate(defined({ users: o.size, contacts: o.contacts, concurrency: o.concurrency, warmup: o.warmup, signal: o.signal })),
  },
  {
    name: 'memory',
    description: 'RSS of the connection nodes and the authority before and after N idle authenticated sessions (no TLS, empty rosters); bytes per session',
    size: 'N, idle sessions over the two nodes (default 10000)',
    run: (o) => runMemory(defined({ sessions: o.size, signal: o.signal })),
  },
  {
    name: 'memory-tls',
    description: 'the same over XEP-0368 direct TLS (a throwaway self-signed certificate): what TLS adds per idle session',
    size: 'N, idle sessions over the two nodes (default 10000)',
    run: (o) => runMemory(defined({ sessions: o.size, signal: o.signal, tls: true })),
  },
  {
    name: 'heartbeat-cost',
    description: 'NATS messages and bytes per second a connection node publishes at 0, N/5 and N idle sessions on it',
    size: 'N, idle sessions on the measured node at the top level (default 10000; the load generator and the node hold one socket each per session, so N + 1000 must fit `ulimit -n`)',
    run: (o) => runHeartbeatCost(o.size === undefined ? defined({ signal: o.signal }) : defined({ levels: [0, Math.floor(o.size / 5), o.size], signal: o.signal })),
  },
  {
    name: 'grpc',
    description: 'GetPresence p50/p99 at a fixed request rate (--concurrency: load processes sharing it, default 1), BatchGetPresence with 1000 JIDs, crash → WatchPresence CLIENT_LOST latency (--trials, default 200)',
    size: 'GetPresence requests per second (default 2000)',
    // --client (or VIGIL_BENCH_GRPC_CLIENT): raw, http2 or grpc-js; runGrpcBench rejects anything else.
    run: (o) => runGrpcBench(defined({ rate: o.size, durationMs: o.seconds === undefined ? undefined : o.seconds * 1000, warmupMs: o.warmupSeconds === undefined ? undefined : o.warmupSeconds * 1000, watchTrials: o.trials, loadProcesses: o.concurrency, client: (o.client ?? process.env.VIGIL_BENCH_GRPC_CLIENT) as GrpcLoadClient | undefined, signal: o.signal })),
  },
  {
    name: 'silent-death',
    description: "clients that stop answering without closing TCP; time until a contact is told, with the nodes' default XEP-0199 ping settings",
    size: 'clients going silent at once, each with its own contact (default 20)',
    run: (o) => runSilentDeath(defined({ victims: o.size, signal: o.signal })),
  },
  {
    name: 'preauth-memory',
    description: 'node RSS per connection that opened a stream and never authenticated, and RSS after they close',
    size: 'unauthenticated connections (default 5000)',
    run: (o) => runPreauthMemory(defined({ connections: o.size, concurrency: o.concurrency, signal: o.signal })),
  },
  {
    name: 'import',
    description: '`vigil import` of a generated XEP-0227 file: N accounts with plaintext passwords and 20 mutual contacts each, then the same file again',
    size: 'N, accounts (default 10000)',
    run: (o) => runImport(defined({ accounts: o.size })),
  },
  ...(['kill', 'stop', 'disconnect'] as const).map((mode: FanOutMode): Scenario => ({
    name: mode === 'kill' ? 'node-crash' : mode === 'stop' ? 'node-freeze' : 'mass-disconnect',
    description:
      mode === 'kill'
        ? 'N sessions on one node with K contacts each on the other; SIGKILL the node; time to the last of N×K unavailable'
        : mode === 'stop'
          ? 'the same, freezing the node with SIGSTOP instead'
          : 'the same N clients dropping their sockets at once while the node lives',
    size: 'N, sessions on the node (default 1000; K = 20 contacts each among N/2 observers, --contacts K and --nodes M to change them)',
    run: (o) =>
      runFanOut(
        defined({
          mode, victims: o.size, observers: o.size === undefined ? undefined : Math.max(1, Math.floor(o.size / 2)),
          contacts: o.contacts, nodes: o.nodes, signal: o.signal,
        }) as { mode: FanOutMode },
      ),
  })),
];
