import { status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { strs, type Command, type Context } from '../command.js';
import { CliError, Exit, UsageError } from '../exit-codes.js';
import { label, show, toJson } from '../output.js';

const P = api.presence;
type Sequence = api.presence.Sequence;

/** `--cause` values: the ChangeCause names without prefix, in lower case with hyphens. */
const CAUSES: ReadonlyMap<string, api.presence.ChangeCause> = new Map(
  Object.entries(P.ChangeCause)
    .filter(([name, value]) => name.startsWith('CHANGE_CAUSE_') && value > 0)
    .map(([name, value]) => [label(name, 'CHANGE_CAUSE_'), value] as const),
);

export function parseCauses(values: readonly string[]): api.presence.ChangeCause[] {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((v) => {
      const cause = CAUSES.get(v.toLowerCase());
      if (cause === undefined) throw new UsageError(`--cause: unknown cause ${JSON.stringify(v)} (one of ${[...CAUSES.keys()].join(', ')})`);
      return cause;
    });
}

const seq = (s: Sequence | undefined): string => `seq ${s?.epoch ?? 0}:${s?.counter ?? 0}`;
const stamp = (ms: number): string => new Date(ms > 0 ? ms : Date.now()).toISOString();

/** One event for people. */
export function describeEvent(r: api.presence.WatchPresenceResponse): string {
  const e = r.event;
  if (e?.$case === 'snapshot') {
    const s = e.snapshot;
    const what = s.resources.length === 0 ? 'offline' : `online: ${s.resources.map((x) => `${x.resource} ${show(x.show)}`).join(', ')}`;
    return `${stamp(0)}  ${s.jid}  snapshot ${what}  (${seq(s.sequence)})`;
  }
  if (e?.$case === 'change') {
    const c = e.change;
    const p = c.presence;
    const what =
      c.available && p
        ? `available: ${[show(p.show), `priority ${p.priority}`, p.nodeId, p.status === '' ? '' : JSON.stringify(p.status)].filter((x) => x !== '').join(', ')}`
        : `unavailable: ${label(P.changeCauseToJSON(c.cause), 'CHANGE_CAUSE_')}`;
    return `${stamp(c.changedAtUnixMs)}  ${c.jid}/${c.resource}  ${what}  (${seq(c.sequence)})`;
  }
  return `${stamp(0)}  (an event this version does not know)`;
}

/** A warning when a user's sequence does not follow on from the last one seen (only meaningful unfiltered). */
function gap(last: Map<string, Sequence>, jid: string, next: Sequence | undefined, isSnapshot: boolean): string | undefined {
  if (next === undefined) return undefined;
  const prev = last.get(jid);
  last.set(jid, next);
  if (isSnapshot || prev === undefined) return undefined;
  if (next.epoch === prev.epoch && next.counter === prev.counter + 1) return undefined;
  return `${jid}: changes may have been missed (${seq(next)} after ${seq(prev)}); re-read with 'vigil presence get ${jid}'`;
}

async function run(ctx: Context): Promise<number> {
  const causes = parseCauses(strs(ctx.values, 'cause'));
  const client = ctx.api();
  const stream = client.presence.watchPresence({ jids: [...ctx.args], causes }, client.metadata());
  const last = new Map<string, Sequence>();
  return new Promise<number>((resolve, reject) => {
    let interrupted = false;
    let error: ServiceError | undefined;
    const off = ctx.io.onInterrupt(() => {
      interrupted = true;
      stream.cancel();
    });
    stream.on('data', (r: api.presence.WatchPresenceResponse) => {
      if (ctx.json) ctx.io.stdout.write(JSON.stringify(toJson(P.WatchPresenceResponse, r)) + '\n');
      else ctx.print(describeEvent(r));
      if (causes.length > 0) return;
      const warning =
        r.event?.$case === 'snapshot'
          ? gap(last, r.event.snapshot.jid, r.event.snapshot.sequence, true)
          : r.event?.$case === 'change'
            ? gap(last, r.event.change.jid, r.event.change.sequence, false)
            : undefined;
      if (warning !== undefined) ctx.io.stderr.write(`vigil presence watch: ${warning}\n`);
    });
    stream.on('error', (e: ServiceError) => {
      error = e;
    });
    // grpc-js emits 'status' once, after 'error' when there is one.
    stream.on('status', (s: StatusObject) => {
      off();
      if (interrupted) resolve(Exit.OK);
      else if (s.code === status.OK) reject(new CliError(Exit.UNAVAILABLE, 'the server ended the stream; watch again and compare sequences'));
      else reject(error ?? new CliError(Exit.SERVER, `${status[s.code] ?? s.code}: ${s.details}`));
    });
  });
}

export const watch: Command = {
  name: 'watch',
  args: '<jid>...',
  arity: [1, 1000],
  summary: 'print presence changes as they happen, until Ctrl-C',
  description: `Watches up to 1000 users (bare JIDs): first a snapshot of each, then every
change of their available resources, one line each, with its cause
(available, graceful, client-lost, node-lost, kicked) and the user's sequence
number (epoch:counter). When a user's sequence does not follow on from the
last one (a new epoch, a jump), changes may have been missed: a warning goes
to stderr. Runs until Ctrl-C (exit code 0) or until the server ends the
stream, which is printed with its reason (exit code 4 when the server went
away: watch again).

--json prints one WatchPresenceResponse per line: {"snapshot": {...}} or
{"change": {...}}.`,
  options: {
    cause: { type: 'string', multiple: true, value: 'CAUSE', help: `only changes with this cause (${[...CAUSES.keys()].join(', ')}); repeat or separate with commas` },
  },
  run,
};
