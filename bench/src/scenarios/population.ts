/**
 * Setting up who exists before a scenario measures anything: accounts and
 * rosters, client key caches, idle sessions. None of it is timed as part of
 * a figure.
 */
import { performance } from 'node:perf_hooks';
import type { Cluster } from '@vigil/testkit';
import { openStores, type Contact } from '@vigil/store';
import { RawXmppClient, type SaslMechanism } from '../load/raw-client.js';
import { primeScramKeys, SCRAM_HASH } from '../load/scram-client.js';
import { runPool } from '../pool.js';

/** Every bench account's password: known, so the load generator can log in as anyone. */
export const benchPassword = (username: string): string => `${username}-bench`;

const CHUNK = 50;
const SETUP_BUDGET_MS = 600_000;

function limits(concurrency: number, signal: AbortSignal | undefined) {
  return { concurrency, deadline: performance.now() + SETUP_BUDGET_MS, ...(signal ? { signal } : {}) };
}

async function throwFirst(run: Promise<{ errors: unknown[] }>): Promise<void> {
  const { errors } = await run;
  if (errors.length > 0) throw errors[0];
}

/**
 * Accounts `<a><i>` and `<b><i>` for i < pairs, each in the other's roster
 * with subscription both, and `<lone><j>` for j < lone with empty rosters.
 * Written in chunks, a few at a time.
 */
export async function provisionPairs(
  cluster: Cluster,
  names: { readonly a: string; readonly b: string; readonly lone: string },
  pairs: number,
  lone: number,
  signal?: AbortSignal,
): Promise<void> {
  const pairChunks = Math.ceil(pairs / CHUNK);
  const chunks = pairChunks + Math.ceil(lone / CHUNK);
  await throwFirst(
    runPool(chunks, limits(4, signal), async (c) => {
      const users: string[] = [];
      const contacts: Contact[] = [];
      const first = (c < pairChunks ? c : c - pairChunks) * CHUNK;
      const end = Math.min(c < pairChunks ? pairs : lone, first + CHUNK);
      for (let i = first; i < end; i++) {
        if (c >= pairChunks) {
          users.push(`${names.lone}${i}`);
          continue;
        }
        const [a, b] = [`${names.a}${i}`, `${names.b}${i}`];
        users.push(a, b);
        contacts.push({ owner: a, contact: b, subscription: 'both' }, { owner: b, contact: a, subscription: 'both' });
      }
      await cluster.provision(
        users.map((username) => ({ username, password: benchPassword(username) })),
        contacts,
      );
    }),
  );
}

/**
 * Reads each account's salt and iteration count from the account store and
 * derives the client keys now, so logins during the measurement cost the
 * load generator two HMACs instead of a PBKDF2 run (a client that logged in
 * before keeps these keys, RFC 5802 §5.1). PLAIN has nothing to cache.
 */
export async function primeClientKeys(cluster: Cluster, usernames: readonly string[], mechanism: SaslMechanism, signal?: AbortSignal): Promise<void> {
  if (mechanism === 'PLAIN') return;
  const { accounts } = await openStores(await cluster.connection());
  await throwFirst(
    runPool(usernames.length, limits(8, signal), async (i) => {
      const username = usernames[i] ?? '';
      const credential = await accounts.credential(username, SCRAM_HASH[mechanism]);
      if (credential === undefined) throw new Error(`no ${mechanism} credential stored for ${username}`);
      await primeScramKeys(mechanism, benchPassword(username), credential.salt, credential.iterations);
    }),
  );
}

/** A bench client for `username` on connection node `node` (0-based), resource 'bench'. */
export function benchClient(cluster: Cluster, node: number, username: string, mechanism: SaslMechanism, maxPresences = 8, tlsCa?: string): RawXmppClient {
  const tlsPort = cluster.node(node).tlsPort;
  if (tlsCa !== undefined && tlsPort === undefined) throw new Error('a TLS client needs a cluster started with directTls');
  return new RawXmppClient({
    ...(tlsCa !== undefined ? { tlsCa } : {}),
    port: tlsCa !== undefined && tlsPort !== undefined ? tlsPort : cluster.node(node).port,
    domain: cluster.domain,
    username,
    password: benchPassword(username),
    resource: 'bench',
    mechanism,
    maxPresences,
  });
}

/**
 * Logs `<prefix><j>` in for j < count, round-robin over the nodes, with
 * initial presence; pushes each client into `into` before its login starts,
 * so the caller can destroy them all whatever happens.
 */
export async function loginIdle(
  cluster: Cluster,
  prefix: string,
  count: number,
  mechanism: SaslMechanism,
  into: RawXmppClient[],
  signal?: AbortSignal,
  tlsCa?: string,
): Promise<void> {
  await throwFirst(
    runPool(count, limits(16, signal), async (j) => {
      const client = benchClient(cluster, j % cluster.nodes.length, `${prefix}${j}`, mechanism, 4, tlsCa);
      into.push(client);
      await client.login();
    }),
  );
}
