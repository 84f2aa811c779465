// Joins the files bench/tools/grpc-timing.mjs wrote (one per process) and
// prints where GetPresence calls spent their time:
//   node bench/tools/grpc-timing-report.mjs [DIR] [--since EPOCH_MS] [--skip N]
// (--skip 4000 leaves out the scenario's 2 s warm-up at 2,000/s)
// For each call (client request → server 'stream' event → server trailers →
// client trailers): percentiles of each leg, and for the slowest 1 % (and the
// calls over 2 ms) one cause each (GC by kind or a late timer turn, server or
// client), which leg was long and whether a GC pause or a late timer turn of
// either process overlapped it. Files are read from DIR (the OS temp directory by default).
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const dir = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--since' && args[i - 1] !== '--skip') ?? tmpdir();
const sinceIdx = args.indexOf('--since');
const sinceUs = sinceIdx >= 0 ? Number(args[sinceIdx + 1]) * 1000 : 0;
const skipIdx = args.indexOf('--skip');
const skip = skipIdx >= 0 ? Number(args[skipIdx + 1]) : 0;
const files = readdirSync(dir).filter((f) => f.startsWith('vigil-grpc-timing-') && f.endsWith('.json'));
const docs = files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const clients = docs.filter((d) => d.clientStreams.length > 0);
const servers = docs.filter((d) => d.serverStreams.length > 0);
if (clients.length === 0 || servers.length === 0) {
  console.error(`need a client and a server file in ${dir}; found ${files.length} files`);
  process.exit(2);
}
const isGet = (r) => typeof r.path === 'string' && r.path.endsWith('/GetPresence');
const serverByT = new Map();
for (const s of servers) for (const r of s.serverStreams) if (r.t > 0 && isGet(r)) serverByT.set(r.t, { ...r, pid: s.pid, service: s.service });
const calls = [];
for (const c of clients) {
  for (const r of c.clientStreams) {
    if (!isGet(r) || r.t < sinceUs || r.trailers === 0) continue;
    const s = serverByT.get(r.t);
    if (s === undefined || s.trailers === 0) continue;
    calls.push({ t: r.t, end: r.trailers, total: r.trailers - r.t, toServer: s.arrive - r.t, inServer: s.trailers - s.arrive, toClient: r.trailers - s.trailers, clientPid: c.pid, serverPid: s.pid });
  }
}
calls.sort((a, b) => a.t - b.t);
calls.splice(0, skip);
const pct = (xs, p) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length === 0 ? NaN : a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))];
};
const ms = (us) => (us / 1000).toFixed(2);
const row = (name, xs) => `${name.padEnd(28)} p50 ${ms(pct(xs, 50))}  p90 ${ms(pct(xs, 90))}  p99 ${ms(pct(xs, 99))}  p99.9 ${ms(pct(xs, 99.9))}  max ${ms(Math.max(...xs))} ms`;
console.log(`${calls.length} GetPresence calls joined (client pids ${clients.map((c) => c.pid).join(',')}, server pids ${servers.map((s) => s.pid).join(',')})`);
console.log(row('client request → trailers', calls.map((c) => c.total)));
console.log(row('  client → server stream', calls.map((c) => c.toServer)));
console.log(row('  server stream → trailers', calls.map((c) => c.inServer)));
console.log(row('  server trailers → client', calls.map((c) => c.toClient)));

const byPid = new Map(docs.map((d) => [d.pid, d]));
const overlaps = (events, from, to) => events.filter((e) => e.at < to && e.at + e.us > from);
const threshold = pct(calls.map((c) => c.total), 99);
const slow = calls.filter((c) => c.total >= threshold);
const tally = { toServer: 0, inServer: 0, toClient: 0, serverGc: 0, clientGc: 0, serverLate: 0, clientLate: 0, none: 0 };
for (const c of slow) {
  const legs = { toServer: c.toServer, inServer: c.inServer, toClient: c.toClient };
  const worst = Object.entries(legs).sort((a, b) => b[1] - a[1])[0][0];
  tally[worst] += 1;
  const s = byPid.get(c.serverPid);
  const cl = byPid.get(c.clientPid);
  const sg = overlaps(s.gc, c.t, c.end).length > 0;
  const cg = overlaps(cl.gc, c.t, c.end).length > 0;
  const sl = overlaps(s.late, c.t, c.end).length > 0;
  const cll = overlaps(cl.late, c.t, c.end).length > 0;
  if (sg) tally.serverGc += 1;
  if (cg) tally.clientGc += 1;
  if (sl) tally.serverLate += 1;
  if (cll) tally.clientLate += 1;
  if (!sg && !cg && !sl && !cll) tally.none += 1;
}
// One cause per slow call, the first that applies in this order: a full (mark-compact) GC of the server, of
// the client, an incremental-marking step of the server, a scavenge of the server, any GC of the client, a
// late timer turn (no GC) of the server, of the client. V8's GC kinds: 1 scavenge, 4 mark-compact, 8
// incremental marking.
const causeOf = (c) => {
  const s = byPid.get(c.serverPid);
  const cl = byPid.get(c.clientPid);
  const sg = overlaps(s.gc, c.t, c.end);
  const cg = overlaps(cl.gc, c.t, c.end);
  if (sg.some((e) => e.kind === 4)) return 'server full GC';
  if (cg.some((e) => e.kind === 4)) return 'client full GC';
  if (sg.some((e) => e.kind === 8)) return 'server incremental marking';
  if (sg.length > 0) return 'server scavenge';
  if (cg.length > 0) return 'client scavenge';
  if (overlaps(s.late, c.t, c.end).length > 0) return 'server late turn, no GC';
  if (overlaps(cl.late, c.t, c.end).length > 0) return 'client late turn, no GC';
  return 'none seen';
};
const causes = (xs) => {
  const t = {};
  for (const c of xs) t[causeOf(c)] = (t[causeOf(c)] ?? 0) + 1;
  return Object.entries(t).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
};
console.log(`causes of the slowest 1 %: ${causes(slow)}`);
const over2 = calls.filter((c) => c.total > 2000);
console.log(`causes of the ${over2.length} calls over 2 ms: ${causes(over2)}`);
console.log(`slowest 1 % (${slow.length} calls ≥ ${ms(threshold)} ms): longest leg client→server ${tally.toServer}, in server ${tally.inServer}, server→client ${tally.toClient};`);
console.log(`  overlapping a GC pause of the server ${tally.serverGc} / of the client ${tally.clientGc}; a late timer turn of the server ${tally.serverLate} / of the client ${tally.clientLate}; none of these ${tally.none}`);
for (const d of docs) {
  const inWindow = (e) => calls.length === 0 || (e.at >= calls[0].t && e.at <= calls[calls.length - 1].end);
  const g = d.gc.filter(inWindow);
  const l = d.late.filter(inWindow);
  const kinds = {};
  for (const e of g) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
  console.log(`${d.service} (pid ${d.pid}) during the calls: ${g.length} GC pauses (${ms(g.reduce((n, e) => n + e.us, 0))} ms; kinds ${JSON.stringify(kinds)}; p50 ${ms(pct(g.map((e) => e.us), 50))} max ${ms(Math.max(0, ...g.map((e) => e.us)))} ms); ${l.length} timer turns > 2 ms late (max ${ms(Math.max(0, ...l.map((e) => e.us)))} ms)`);
}
