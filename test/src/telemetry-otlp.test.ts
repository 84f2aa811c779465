import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Cluster, DeadlineError, TestClient, freePort, is, mutualContacts } from '@vigil/testkit';

// OTLP export (issue 9): with OTEL_EXPORTER_OTLP_ENDPOINT set, every process pushes its metrics and the
// spans of logins and lease expiries to the collector, and log lines written inside a span name its trace.
const DEADLINE_MS = 20_000;

/** A stand-in OTLP/HTTP collector: keeps each request's path and body (protobuf; names travel as plain UTF-8). */
class FakeCollector {
  readonly received: { path: string; body: Buffer }[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.received.length < 10_000) this.received.push({ path: req.url ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      for (const w of this.#waiters) w();
    });
  });

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
  }

  /** Resolves once a request to `path` contains every one of `texts` (strings as UTF-8, or raw bytes such as a trace id). */
  async waitFor(path: string, texts: readonly (string | Buffer)[], what: string): Promise<void> {
    const found = () => this.received.some((r) => r.path === path && texts.every((t) => r.body.includes(t)));
    if (found()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!found()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new DeadlineError(`collector to receive ${what} on ${path} (got ${this.received.length} requests)`, DEADLINE_MS));
      }, DEADLINE_MS);
      this.#waiters.add(check);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

describe('OTLP export', () => {
  let cluster: Cluster;
  let collector: FakeCollector;
  let bob: TestClient;

  before(async () => {
    collector = new FakeCollector();
    const port = await freePort();
    await collector.listen(port);
    cluster = await Cluster.start({
      nodes: 2,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_METRIC_EXPORT_INTERVAL: '500', OTEL_BSP_SCHEDULE_DELAY: '200' },
    });
    await cluster.provision(['alice', 'bob'].map((u) => ({ username: u, password: `${u}-secret` })), mutualContacts('alice', 'bob'));
  });

  after(async () => {
    await bob?.stop();
    await cluster?.stop();
    await collector?.close();
  });

  test('logins are traced on the node, and metrics reach the collector from every process', async () => {
    bob = await TestClient.connect({ port: cluster.node(1).port, domain: cluster.domain, username: 'bob', password: 'bob-secret', resource: 'desk' });
    await collector.waitFor('/v1/traces', ['vigil.xmpp.login', 'connection-node', 'node-2'], 'a login span from node-2');
    await collector.waitFor('/v1/metrics', ['vigil_node_sessions', 'connection-node'], "a node's metrics");
    await collector.waitFor('/v1/metrics', ['vigil_authority_shards_owned', 'presence-authority'], "the authority's metrics");
  });

  test("a node's lease expiry is one span with its fan-out, and the log lines inside it carry its trace id", async () => {
    const alice = await TestClient.connect({ port: cluster.node(0).port, domain: cluster.domain, username: 'alice', password: 'alice-secret', resource: 'phone' });
    try {
      await bob.sendPresence();
      await alice.sendPresence();
      await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, "alice's presence");
      const mark = bob.mark();
      cluster.node(0).service.signal('SIGKILL');
      await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, "alice's unavailable after node-1 died", mark);
      const line = await cluster.authority.waitForLog((r) => r.msg === 'node incarnation expired' && r.node === 'node-1', DEADLINE_MS, 'the expiry summary');
      assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
      assert.match(String(line.span_id), /^[0-9a-f]{16}$/);
      await collector.waitFor('/v1/traces', ['vigil.lease.expire', 'node-1', Buffer.from(String(line.trace_id), 'hex')], 'the lease-expiry span with the logged trace id');
    } finally {
      await alice.stop();
    }
  });
});
