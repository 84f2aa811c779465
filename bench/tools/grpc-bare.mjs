// Measuring aid: the floor of GetPresence latency on this machine, i.e. what
// grpc-js and Node's HTTP/2 cost without Vigil. Starts a bare grpc-js server
// for vigil.presence.v1.PresenceService whose GetPresence answers at once
// with a fixed presence (no authentication, no interceptor, no NATS), in its
// own process, and drives it with the grpc scenario's load process
// (bench/src/load/grpc-load.ts: same client, rate and 2 MB young generation):
//   npm run build && node bench/tools/grpc-bare.mjs [--rate 2000] [--seconds 10] [--processes 1] [--client http2|grpc-js] [--server-args "--trace-gc-nvp"]
// (--processes N: N load processes sharing the rate, a channel each, as the scenario's --concurrency)
// Preload bench/tools/grpc-timing.mjs into both (node --import … and
// --server-args "--import …") for the per-leg split and GC attribution
// (grpc-timing-report.mjs). Prints one JSON line. Not part of any service.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuUsage } from 'node:process';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

if (process.env.VIGIL_GRPC_BARE_SERVER === '1') {
  const { Server, ServerCredentials, status } = await import('@grpc/grpc-js');
  const { api } = await import('@vigil/proto');
  const server = new Server({ 'grpc.enable_channelz': 0 });
  const impl = {};
  for (const k of Object.keys(api.presence.PresenceServiceService)) impl[k] = (_call, cb) => cb({ code: status.UNIMPLEMENTED, details: 'bare server' });
  impl.getPresence = (call, cb) => cb(null, { presence: { jid: call.request.jid, resources: [] } });
  server.addService(api.presence.PresenceServiceService, impl);
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, port) => {
    if (e) throw e;
    process.send?.({ port, cpu: cpuUsage() });
  });
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.({ cpu: cpuUsage() });
  });
  process.on('disconnect', () => process.exit(0));
} else {
  const rate = Number(opt('rate', '2000'));
  const seconds = Number(opt('seconds', '10'));
  const serverArgs = (opt('server-args', '') ?? '').split(' ').filter((a) => a !== '');
  const { GrpcLoadProcess } = await import(new URL('../dist/load/grpc-load.js', import.meta.url).href);
  const server = fork(fileURLToPath(import.meta.url), [], {
    execArgv: serverArgs, env: { ...process.env, VIGIL_GRPC_BARE_SERVER: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = () => new Promise((resolve) => server.once('message', resolve));
  const { port } = await ask();
  const processes = Number(opt('processes', '1'));
  const client = opt('client', 'http2');
  const loads = await Promise.all(
    Array.from({ length: processes }, (_, index) =>
      GrpcLoadProcess.start({ address: `127.0.0.1:${port}`, token: 'bare-server-takes-no-token', domain: 'localhost', users: 1000, rate: rate / processes, index, of: processes, deadlineMs: 5000, client }),
    ),
  );
  await Promise.all(loads.map((l) => l.phase(2000, false)));
  server.send('cpu');
  const before = (await ask()).cpu;
  const results = await Promise.all(loads.map((l) => l.phase(seconds * 1000, true)));
  server.send('cpu');
  const after = (await ask()).cpu;
  for (const l of loads) l.stop();
  server.disconnect();
  const r = {
    issued: results.reduce((n, x) => n + x.issued, 0), failed: results.reduce((n, x) => n + x.failed, 0), cpuMs: results.reduce((n, x) => n + x.cpuMs, 0),
    gcPauses: results.reduce((n, x) => n + x.gcPauses, 0), gcTotalMs: results.reduce((n, x) => n + x.gcTotalMs, 0),
    gcMaxMs: Math.max(...results.map((x) => x.gcMaxMs)), loopDelayP99Ms: Math.max(...results.map((x) => x.loopDelayP99Ms)),
  };
  const s = results.flatMap((x) => x.latencyMs).sort((a, b) => a - b);
  const q = (p) => Number((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN).toFixed(2));
  const serverCpuMs = (after.user + after.system - before.user - before.system) / 1000;
  console.log(JSON.stringify({
    rate, seconds, processes, client, requests: r.issued, failed: r.failed, latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: q(1) },
    serverCpuMsPerRequest: Number((serverCpuMs / r.issued).toFixed(3)), clientCpuMsPerRequest: Number((r.cpuMs / r.issued).toFixed(3)),
    clientProcess: { gcPauses: r.gcPauses, gcTotalMs: Number(r.gcTotalMs.toFixed(1)), gcMaxMs: Number(r.gcMaxMs.toFixed(1)), loopDelayP99Ms: r.loopDelayP99Ms },
    serverArgs, loadAverage: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(2))),
  }));
}
