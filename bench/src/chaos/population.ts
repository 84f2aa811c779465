import { performance } from 'node:perf_hooks';
import type { Cluster } from '@vigil/testkit';
import type { Contact } from '@vigil/store';
import { RawXmppClient } from '../load/raw-client.js';
import { runPool } from '../pool.js';
import { benchPassword, primeClientKeys } from '../scenarios/population.js';

/** A user of the chaos population and its live client, if any. */
export interface Member {
  readonly user: string;
  readonly bare: string;
  readonly node: number;
  client: RawXmppClient | undefined;
  /** performance.now() when the client saw its stream end. */
  endedAt: number | undefined;
}

/** Users c0…c(n-1) on a ring: each is a mutual contact of the k/2 users on either side. */
export function ringContacts(users: number, k: number, domain: string, prefix = 'c'): Map<string, Set<string>> {
  const half = Math.max(1, Math.floor(k / 2));
  const out = new Map<string, Set<string>>();
  for (let i = 0; i < users; i++) out.set(`${prefix}${i}@${domain}`, new Set());
  for (let i = 0; i < users; i++) {
    for (let d = 1; d <= half && d < users; d++) {
      const j = (i + d) % users;
      if (j === i) continue;
      out.get(`${prefix}${i}@${domain}`)?.add(`${prefix}${j}@${domain}`);
      out.get(`${prefix}${j}@${domain}`)?.add(`${prefix}${i}@${domain}`);
    }
  }
  return out;
}

export async function provisionRing(cluster: Cluster, contacts: Map<string, Set<string>>): Promise<void> {
  const users = [...contacts.keys()];
  const chunk = 50;
  const { errors } = await runPool(Math.ceil(users.length / chunk), { concurrency: 4, deadline: performance.now() + 600_000 }, async (c) => {
    const slice = users.slice(c * chunk, (c + 1) * chunk);
    const rows: Contact[] = [];
    for (const u of slice) for (const v of contacts.get(u) ?? []) rows.push({ owner: u.split('@')[0] as string, contact: v.split('@')[0] as string, subscription: 'both' });
    await cluster.provision(slice.map((u) => ({ username: u.split('@')[0] as string, password: benchPassword(u.split('@')[0] as string) })), rows);
  });
  if (errors.length > 0) throw errors[0];
  await primeClientKeys(cluster, users.map((u) => u.split('@')[0] as string), 'SCRAM-SHA-256');
}

/** Logs every member without a live client in, with a server-chosen resource (a new full JID each time). */
export async function loginAll(cluster: Cluster, members: Member[], presencesKept: number, attempt = 1): Promise<void> {
  const todo = members.filter((m) => m.client === undefined || m.client.phase === 'closed');
  const { errors } = await runPool(todo.length, { concurrency: 16, deadline: performance.now() + 300_000 }, async (i) => {
    const m = todo[i] as Member;
    const username = m.user;
    const client = new RawXmppClient({
      port: cluster.node(m.node).port, domain: cluster.domain, username, password: benchPassword(username), mechanism: 'SCRAM-SHA-256', maxPresences: presencesKept,
    });
    m.client = client;
    m.endedAt = undefined;
    void client.closed.then(() => {
      if (m.client === client) m.endedAt = performance.now();
    });
    await client.login();
  });
  // Like real clients, retry logins refused with a temporary error (a shard in hand-over), a bounded number of times.
  const failed = todo.filter((m) => m.client?.phase !== 'live');
  if (errors.length > 0 && failed.length > 0 && attempt < 4) {
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    return loginAll(cluster, members, presencesKept, attempt + 1);
  }
  if (errors.length > 0) throw errors[0];
}

/** Every live member has seen every live contact's current resource available. */
export async function waitConverged(members: Member[], contacts: Map<string, Set<string>>, timeoutMs: number): Promise<void> {
  const byBare = new Map(members.map((m) => [m.bare, m]));
  const waits: Promise<string | undefined>[] = [];
  for (const m of members) {
    if (m.client?.phase !== 'live') continue;
    for (const c of contacts.get(m.bare) ?? []) {
      const other = byBare.get(c);
      if (other?.client?.phase !== 'live') continue;
      const pair = `${m.bare} (node ${m.node + 1}) never saw ${other.client.jid} (node ${other.node + 1})`;
      waits.push(m.client.waitForPresence(other.client.jid, 'available', timeoutMs).then(() => undefined, () => pair));
    }
  }
  const missed = (await Promise.all(waits)).filter((p) => p !== undefined);
  if (missed.length > 0) throw new UnconvergedError(missed, timeoutMs);
}

/** Live contacts that did not see each other available before a trial: the cluster did not converge. */
export class UnconvergedError extends Error {
  constructor(readonly pairs: readonly string[], timeoutMs: number) {
    super(`${pairs.length} pairs of live contacts not converged within ${timeoutMs} ms, e.g. ${pairs.slice(0, 5).join('; ')}`);
    this.name = 'UnconvergedError';
  }
}
