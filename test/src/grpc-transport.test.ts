import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { connect as http2Connect } from 'node:http2';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  credentials, loadPackageDefinition, Metadata, status,
  type ChannelCredentials, type ChannelOptions, type Client, type ClientDuplexStream, type ServiceClientConstructor, type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { api, health } from '@vigil/proto';
import { Cluster, DeadlineError, createSelfSignedCert, withDeadline, type GrpcAccess, type SelfSignedCert } from '@vigil/testkit';

// The gRPC API's transport: server reflection (on only when configured),
// message-size limits both ways, keepalive enforcement, and mutual TLS with
// a real grpc-js client and the built `vigil` command line.
const DEADLINE_MS = 15_000;
const CLI_MAIN = fileURLToPath(new URL('../../services/cli/dist/main.js', import.meta.url));

// ---- a grpc.reflection.v1 client, from the proto file that ships with @grpc/reflection ----

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}
type ReflectionClient = Client & { ServerReflectionInfo(md: Metadata): ClientDuplexStream<Record<string, string>, ReflectionResponse> };

function reflectionClient(address: string, creds: ChannelCredentials = credentials.createInsecure(), options: ChannelOptions = {}): ReflectionClient {
  const protoDir = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '../proto');
  const definition = loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [protoDir] });
  const pkg = loadPackageDefinition(definition) as unknown as { grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } } };
  return new pkg.grpc.reflection.v1.ServerReflection(address, creds, options) as unknown as ReflectionClient;
}

/** One request on a reflection stream; resolves with the first answer or rejects with the stream's error. */
function reflect(client: ReflectionClient, request: Record<string, string>): Promise<ReflectionResponse> {
  const call = client.ServerReflectionInfo(new Metadata());
  const answer = new Promise<ReflectionResponse>((resolve, reject) => {
    call.on('data', (r: ReflectionResponse) => {
      resolve(r);
      call.end();
    });
    call.on('error', reject);
    call.on('end', () => reject(new Error('reflection stream ended without an answer')));
  });
  call.write(request);
  return withDeadline(answer, DEADLINE_MS, `reflection ${JSON.stringify(request)}`).finally(() => call.cancel());
}

// ---- unary calls ----

const bearer = (token: string): Metadata => {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;
function call<Req, Res>(fn: Unary<Req, Res>, req: Req, md: Metadata = new Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, md, { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function failsWith(p: Promise<unknown>, code: status, message?: RegExp): Promise<void> {
  const e = await p.then(
    () => assert.fail(`expected ${status[code]}, got success`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof Error && 'code' in e, `a gRPC error, not ${String(e)}`);
  const se = e as ServiceError;
  assert.equal(se.code, code, `expected ${status[code]}, got ${status[se.code]}: ${se.details}`);
  if (message !== undefined) assert.match(se.details, message);
}

const checkHealth = (address: string, creds: ChannelCredentials, options: ChannelOptions = {}): Promise<health.HealthCheckResponse> => {
  const client = new health.HealthClient(address, creds, options);
  return call(client.check.bind(client), { service: '' }).finally(() => client.close());
};

// ---- HTTP/2 by hand, for keepalive ----

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME = { settings: 4, ping: 6 } as const;
const frame = (type: number, flags: number): Buffer => Buffer.from([0, 0, 0, type, flags, 0, 0, 0, 0]);

/**
 * A TCP connection that speaks just enough HTTP/2 to be a client (preface,
 * SETTINGS and its ACK) and then never answers a PING: a peer that is gone
 * without closing TCP. Resolves when the server closes it, with the PINGs seen.
 */
function silentHttp2Peer(port: number): Promise<{ pings: number }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffered = Buffer.alloc(0);
    let pings = 0;
    socket.on('connect', () => socket.write(Buffer.concat([H2_PREFACE, frame(FRAME.settings, 0)])));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered[3];
        const flags = buffered[4] ?? 0;
        buffered = buffered.subarray(9 + length);
        if (type === FRAME.settings && (flags & 1) === 0) socket.write(frame(FRAME.settings, 1));
        if (type === FRAME.ping && (flags & 1) === 0) pings += 1;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ pings }));
    setTimeout(() => {
      socket.destroy();
      reject(new DeadlineError('the server to close a connection that does not answer pings', DEADLINE_MS));
    }, DEADLINE_MS).unref();
  });
}

describe('gRPC transport: reflection on, message-size limits, keepalive', () => {
  const KEEPALIVE_TIME_MS = 1000;
  const MAX_MESSAGE_BYTES = 65_536;
  let cluster: Cluster;
  let grpc: GrpcAccess;
  let presence: api.presence.PresenceServiceClient;

  before(async () => {
    cluster = await Cluster.start({
      nodes: 1,
      grpc: true,
      env: {
        VIGIL_GRPC_REFLECTION: 'true',
        VIGIL_GRPC_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        VIGIL_GRPC_KEEPALIVE_TIME_MS: String(KEEPALIVE_TIME_MS),
        VIGIL_GRPC_KEEPALIVE_TIMEOUT_MS: '300',
      },
    });
    grpc = cluster.grpc as GrpcAccess;
    await cluster.provision([{ username: 'u', password: 'pw' }], []);
    presence = new api.presence.PresenceServiceClient(grpc.address(0), credentials.createInsecure());
  });

  after(async () => {
    presence?.close();
    await cluster?.stop();
  });

  test('a reflection client lists the Vigil services and gets their file descriptors', async () => {
    const client = reflectionClient(grpc.address(0));
    try {
      const listed = await reflect(client, { listServices: '' });
      const names = (listed.listServicesResponse?.service ?? []).map((s) => s.name).sort();
      for (const s of ['vigil.presence.v1.PresenceService', 'vigil.presence.v1.RosterService', 'vigil.presence.v1.AccountService', 'vigil.presence.v1.ClusterService', 'vigil.presence.v1.MigrationService', 'grpc.health.v1.Health']) {
        assert.ok(names.includes(s), `${s} listed in ${names.join(', ')}`);
      }
      const file = await reflect(client, { fileContainingSymbol: 'vigil.presence.v1.PresenceService' });
      assert.ok((file.fileDescriptorResponse?.fileDescriptorProto.length ?? 0) >= 1, 'at least the file defining the service');
      const text = Buffer.concat(file.fileDescriptorResponse?.fileDescriptorProto ?? []).toString('latin1');
      assert.match(text, /WatchPresence/);
    } finally {
      client.close();
    }
  });

  test('a request above the message-size limit is RESOURCE_EXHAUSTED; one below it is served', async () => {
    const big = `u@localhost/${'r'.repeat(MAX_MESSAGE_BYTES)}`;
    await failsWith(call(presence.getPresence.bind(presence), { jid: big }, bearer(grpc.readToken)), status.RESOURCE_EXHAUSTED);
    const res = await call(presence.getPresence.bind(presence), { jid: 'u@localhost' }, bearer(grpc.readToken));
    assert.equal(res.presence?.jid, 'u@localhost');
  });

  test('a response above the limit is RESOURCE_EXHAUSTED too, not sent', async () => {
    // 1,000 full JIDs of 62 bytes: the request (~64,000 bytes) fits, the answer (each JID plus its sequence) does not.
    const jids = Array.from({ length: 1000 }, (_, i) => `u@localhost/${String(i).padStart(50, 'r')}`);
    await failsWith(call(presence.batchGetPresence.bind(presence), { jids }, bearer(grpc.readToken)), status.RESOURCE_EXHAUSTED);
    const half = await call(presence.batchGetPresence.bind(presence), { jids: jids.slice(0, 500) }, bearer(grpc.readToken));
    assert.equal(half.presences.length, 500);
  });

  test('keepalive: a connection that answers pings stays open; one that stops answering is closed', async () => {
    const session = http2Connect(`http://${grpc.address(0)}`);
    try {
      let pings = 0;
      session.on('ping', () => (pings += 1));
      const deadline = Date.now() + DEADLINE_MS;
      while (pings < 3) {
        if (session.closed || session.destroyed) assert.fail(`the server closed a connection that answered ${pings} pings`);
        if (Date.now() > deadline) throw new DeadlineError('three keepalive pings', DEADLINE_MS);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(session.closed, false);
    } finally {
      session.destroy();
    }
    const silent = await silentHttp2Peer(Number(grpc.address(0).split(':')[1]));
    assert.ok(silent.pings >= 1, 'closed after an unanswered ping, not before one');
  });
});

describe('gRPC transport: mutual TLS, reflection off by default', () => {
  let cluster: Cluster;
  let grpc: GrpcAccess;
  let server: SelfSignedCert;
  let client: SelfSignedCert;
  let rogue: SelfSignedCert;
  // The server certificate names localhost; the API listens on 127.0.0.1.
  const NAME = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };
  const mtls = (c: SelfSignedCert | undefined): ChannelCredentials =>
    credentials.createSsl(Buffer.from(server.certPem), c === undefined ? null : readFileSync(c.keyFile), c === undefined ? null : Buffer.from(c.certPem));

  before(async () => {
    [server, client, rogue] = await Promise.all([
      createSelfSignedCert({ domain: 'localhost' }),
      createSelfSignedCert({ domain: 'backend.example' }),
      createSelfSignedCert({ domain: 'rogue.example' }),
    ]);
    cluster = await Cluster.start({
      nodes: 1,
      grpc: true,
      env: {
        VIGIL_GRPC_TLS_CERT_FILE: server.certFile,
        VIGIL_GRPC_TLS_KEY_FILE: server.keyFile,
        // The client's self-signed certificate is its own CA.
        VIGIL_GRPC_TLS_CLIENT_CA_FILE: client.certFile,
      },
    });
    grpc = cluster.grpc as GrpcAccess;
    await cluster.provision([{ username: 'u', password: 'pw' }], []);
  });

  after(async () => {
    await cluster?.stop();
    await Promise.all([server, client, rogue].map((c) => c?.remove()));
  });

  test('a client with a certificate from the configured CA is served', async () => {
    const res = await checkHealth(grpc.address(0), mtls(client), NAME);
    assert.equal(res.status, health.HealthCheckResponse_ServingStatus.SERVING);
    const presence = new api.presence.PresenceServiceClient(grpc.address(0), mtls(client), NAME);
    try {
      const p = await call(presence.getPresence.bind(presence), { jid: 'u@localhost' }, bearer(grpc.readToken));
      assert.equal(p.presence?.jid, 'u@localhost');
    } finally {
      presence.close();
    }
  });

  test('no client certificate, one from another CA, or plaintext: refused before any call', async () => {
    await failsWith(checkHealth(grpc.address(0), mtls(undefined), NAME), status.UNAVAILABLE);
    await failsWith(checkHealth(grpc.address(0), mtls(rogue), NAME), status.UNAVAILABLE);
    await failsWith(checkHealth(grpc.address(0), credentials.createInsecure()), status.UNAVAILABLE);
  });

  test('server reflection is off unless configured: UNIMPLEMENTED', async () => {
    const r = reflectionClient(grpc.address(0), mtls(client), NAME);
    try {
      await failsWith(reflect(r, { listServices: '' }), status.UNIMPLEMENTED);
    } finally {
      r.close();
    }
  });

  /** The built CLI as a child process; resolves with its exit code and output. */
  const vigil = (args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_MAIN, ...args], {
        env: { PATH: process.env.PATH ?? '', VIGIL_GRPC_SERVER: grpc.address(0), VIGIL_TOKEN: grpc.readToken, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new DeadlineError(`vigil ${args.join(' ')}`, DEADLINE_MS));
      }, DEADLINE_MS);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  test('vigil talks mTLS with --ca, --cert, --key and --tls-server-name, or the same from the environment', async () => {
    const flags = ['--ca', server.certFile, '--cert', client.certFile, '--key', client.keyFile, '--tls-server-name', 'localhost', '--timeout', '5'];
    const byFlags = await vigil(['presence', 'get', 'u@localhost', '--json', ...flags], {});
    assert.equal(byFlags.code, 0, byFlags.stderr);
    assert.deepEqual((JSON.parse(byFlags.stdout) as { presences: { jid: string }[] }).presences.map((p) => p.jid), ['u@localhost']);

    const byEnv = await vigil(['presence', 'get', 'u@localhost', '--json', '--timeout', '5'], {
      VIGIL_GRPC_CA_FILE: server.certFile, VIGIL_GRPC_CERT_FILE: client.certFile, VIGIL_GRPC_KEY_FILE: client.keyFile, VIGIL_GRPC_TLS_SERVER_NAME: 'localhost',
    });
    assert.equal(byEnv.code, 0, byEnv.stderr);

    const noCert = await vigil(['presence', 'get', 'u@localhost', '--ca', server.certFile, '--tls-server-name', 'localhost', '--timeout', '5'], {});
    assert.equal(noCert.code, 4, `refused without a client certificate: exit 4 (UNAVAILABLE), got ${noCert.code}: ${noCert.stderr}`);
    assert.match(noCert.stderr, /UNAVAILABLE/);

    const halfPair = await vigil(['presence', 'get', 'u@localhost', '--cert', client.certFile], {});
    assert.equal(halfPair.code, 1, 'a certificate without its key is a usage error');
    assert.match(halfPair.stderr, /--cert needs --key/);
  });
});
