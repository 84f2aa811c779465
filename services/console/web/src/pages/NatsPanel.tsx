import type { NatsView } from '../../../src/view.js';
import { TableWrap } from '../components.js';

/** The NATS servers as the answering authority replica knows them, each probed at the last reading. */
export function NatsPanel({ nats }: { nats: NatsView | undefined }) {
  const reachable = nats?.servers.filter((s) => s.reachable).length ?? 0;
  return (
    <section aria-labelledby="nats-h">
      <h2 id="nats-h">NATS servers</h2>
      {nats === undefined ? (
        <p>Waiting for the first reading…</p>
      ) : nats.error !== '' ? (
        <p class="notice error" data-testid="nats-error">
          The NATS servers could not be read: {nats.error}
        </p>
      ) : (
        <>
          <p data-testid="nats-summary">
            {reachable} of {nats.servers.length} reachable{nats.clusterName !== '' ? ` in cluster ${nats.clusterName}` : ''}, as {nats.authorityId} sees them.
          </p>
          <TableWrap label="NATS servers">
            <table data-testid="nats">
              <thead>
                <tr>
                  <th scope="col">Server</th>
                  <th scope="col">Reachable</th>
                  <th scope="col">Name</th>
                  <th scope="col">Version</th>
                  <th scope="col">Known from</th>
                </tr>
              </thead>
              <tbody>
                {nats.servers.map((s) => (
                  <tr key={s.address} data-address={s.address} data-reachable={String(s.reachable)}>
                    <th scope="row">
                      <code>{s.address}</code>
                      {s.connected && <span class="hint"> (in use)</span>}
                    </th>
                    <td>
                      {s.reachable ? (
                        <span class="badge lease-live">reachable</span>
                      ) : (
                        <>
                          <span class="badge lease-expired">unreachable</span> <span class="hint">{s.error}</span>
                        </>
                      )}
                    </td>
                    <td>{s.serverName}</td>
                    <td>{s.version}</td>
                    <td>{[s.configured ? 'configured' : '', s.discovered ? 'announced' : ''].filter((w) => w !== '').join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
    </section>
  );
}
