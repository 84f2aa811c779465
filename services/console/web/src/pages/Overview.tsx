import { useEffect, useState } from 'preact/hooks';
import type { ClusterView, LatencyView, NatsView, ShardView } from '../../../src/view.js';
import { get, RequestError } from '../api.js';
import { LinkBanner, TableWrap } from '../components.js';
import { age, clock, LEASE_LABEL } from '../format.js';
import { useEventStream } from '../live.js';
import { LatencyPanel } from './LatencyPanel.js';
import { NatsPanel } from './NatsPanel.js';

interface OwnerSummary {
  readonly owner: string;
  readonly count: number;
  readonly minEpoch: number;
  readonly maxEpoch: number;
}

function owners(shards: readonly ShardView[]): OwnerSummary[] {
  const by = new Map<string, OwnerSummary>();
  for (const s of shards) {
    const key = s.owner === '' ? '(none: hand-over)' : s.owner;
    const o = by.get(key);
    by.set(key, o === undefined ? { owner: key, count: 1, minEpoch: s.epoch, maxEpoch: s.epoch } : { owner: key, count: o.count + 1, minEpoch: Math.min(o.minEpoch, s.epoch), maxEpoch: Math.max(o.maxEpoch, s.epoch) });
  }
  return [...by.values()].sort((a, b) => a.owner.localeCompare(b.owner));
}

/** Nodes, shards, NATS servers and latency, re-read by the console at most once a second and pushed here. */
export function Overview({ onLoggedOut }: { onLoggedOut: (m: string) => void }) {
  const [view, setView] = useState<ClusterView | undefined>(undefined);
  const [nats, setNats] = useState<NatsView | undefined>(undefined);
  const [latency, setLatency] = useState<LatencyView | undefined>(undefined);
  const link = useEventStream(
    '/api/cluster/events',
    { cluster: (d) => setView(d as ClusterView), nats: (d) => setNats(d as NatsView), latency: (d) => setLatency(d as LatencyView) },
    onLoggedOut,
  );
  const stale = link.state === 'retrying' && view !== undefined;
  return (
    <main id="main" class={stale ? 'stale' : undefined}>
      <h1>Cluster</h1>
      <LinkBanner link={link} what="Cluster view" />
      <section aria-labelledby="nodes-h">
        <h2 id="nodes-h">Connection nodes</h2>
        {view === undefined ? (
          <p>Waiting for the first reading…</p>
        ) : view.nodes.length === 0 ? (
          <p>No connection node heard from.</p>
        ) : (
          <TableWrap label="Connection nodes">
            <table data-testid="nodes">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Lease</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Sessions</th>
                  <th scope="col">Shards with sessions</th>
                  <th scope="col">Incarnation</th>
                </tr>
              </thead>
              <tbody>
                {view.nodes.map((n) => (
                  <tr key={`${n.nodeId}/${n.incarnation}`} data-node={n.nodeId}>
                    <th scope="row">{n.nodeId}</th>
                    <td>
                      <span class={`badge lease-${n.lease}`}>{LEASE_LABEL[n.lease]}</span>
                    </td>
                    <td>{age(n.heartbeatAgeMs)} ago</td>
                    <td>{n.sessions}</td>
                    <td>{n.shards}</td>
                    <td>
                      <code>{n.incarnation}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
      <section aria-labelledby="shards-h">
        <h2 id="shards-h">Shards</h2>
        {view !== undefined && (
          <>
            <TableWrap label="Shard owners">
              <table data-testid="owners">
                <thead>
                  <tr>
                    <th scope="col">Owner</th>
                    <th scope="col">Shards</th>
                    <th scope="col">Epochs</th>
                  </tr>
                </thead>
                <tbody>
                  {owners(view.shards).map((o) => (
                    <tr key={o.owner}>
                      <th scope="row">{o.owner}</th>
                      <td>{o.count}</td>
                      <td>{o.minEpoch === o.maxEpoch ? o.minEpoch : `${o.minEpoch}–${o.maxEpoch}`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <details>
              <summary>All {view.shards.length} shards</summary>
              <TableWrap label="All shards">
                <table class="compact">
                  <thead>
                    <tr>
                      <th scope="col">Shard</th>
                      <th scope="col">Owner</th>
                      <th scope="col">Epoch</th>
                      <th scope="col">Renewed</th>
                    </tr>
                  </thead>
                  <tbody>
                    {view.shards.map((s) => (
                      <tr key={s.shard}>
                        <th scope="row">{s.shard}</th>
                        <td>{s.owner === '' ? '(none: hand-over)' : s.owner}</td>
                        <td>{s.epoch}</td>
                        <td>{s.renewedAtUnixMs > 0 ? `${age(Math.max(0, view.readAtUnixMs - s.renewedAtUnixMs))} before the reading` : ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableWrap>
            </details>
            <p class="hint" data-testid="read-at">
              {stale ? 'Last reading' : 'Read'} at {clock(view.readAtUnixMs)}
              {stale ? ': the cluster cannot be reached, so this may be out of date.' : '.'}
            </p>
          </>
        )}
      </section>
      <NatsPanel nats={nats} />
      <LatencyPanel latency={latency} />
      <Users />
    </main>
  );
}

/** Accounts with links to their pages, and a field to open any user. */
function Users() {
  const [users, setUsers] = useState<readonly string[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [jid, setJid] = useState('');
  useEffect(() => {
    get<{ users: string[] }>('/api/users').then(
      (r) => setUsers(r.users),
      (e: unknown) => setError(e instanceof RequestError ? e.message : 'could not list the accounts'),
    );
  }, []);
  const open = (e: Event) => {
    e.preventDefault();
    if (jid.trim() !== '') location.hash = `#/users/${encodeURIComponent(jid.trim())}`;
  };
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <form class="inline" onSubmit={open}>
        <label for="open-jid">Open user (bare JID)</label>
        <input id="open-jid" type="text" autocomplete="off" placeholder="alice@localhost" value={jid} onInput={(e) => setJid(e.currentTarget.value)} />
        <button type="submit">Open</button>
      </form>
      {error !== undefined && <p class="notice error">{error}</p>}
      {users !== undefined && (
        <ul class="users" data-testid="users">
          {users.map((u) => (
            <li key={u}>
              <a href={`#/users/${encodeURIComponent(u)}`}>{u}</a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
