import { client, xml, type XmppClient } from '@xmpp/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DemoView, Scope } from '../../../src/view.js';
import { post, RequestError } from '../api.js';
import { ConfirmDialog, Notice, useConfirm } from '../components.js';
import { fromRoster, onPresence, type Contacts } from '../../../src/demo-state.js';

type DemoUser = DemoView['users'][number];
type State = 'offline' | 'connecting' | 'online';

const NS_ROSTER = 'jabber:iq:roster';

/**
 * One demo user logged in from this page through XMPP over WebSocket
 * (@xmpp/client's browser build) to a connection node: a real client whose
 * roster shows what the cluster tells it about its contacts.
 */
function DemoClient({ user, domain }: { user: DemoUser; domain: string }) {
  const [state, setState] = useState<State>('offline');
  const [contacts, setContacts] = useState<Contacts>({});
  const [error, setError] = useState<string | undefined>(undefined);
  const xmpp = useRef<XmppClient | undefined>(undefined);
  const jid = `${user.username}@${domain}`;

  useEffect(() => () => void xmpp.current?.stop().catch(() => undefined), []);

  const logIn = async () => {
    setError(undefined);
    setState('connecting');
    const x = client({ service: user.wsUrl, domain, username: user.username, password: user.password, resource: 'console-demo' });
    x.reconnect.stop(); // a killed connection stays dead, so everyone sees the unavailable
    xmpp.current = x;
    x.on('error', (e) => setError(e.message));
    x.on('status', (s) => {
      if (s === 'online') setState('online');
      if (s === 'disconnect' || s === 'offline') {
        setState('offline');
        setContacts((cs) => fromRoster({}, Object.values(cs)));
      }
    });
    x.on('stanza', (s) => {
      if (!s.is('presence')) return;
      setContacts((cs) => onPresence(cs, s.attrs.from ?? '', s.attrs.type, s.getChildText('status') ?? ''));
    });
    try {
      await x.start();
      const r = await x.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })), 10_000);
      const items = (r.getChild('query', NS_ROSTER)?.getChildren('item') ?? []).map((i) => ({
        jid: i.attrs.jid ?? '',
        name: i.attrs.name ?? '',
        subscription: i.attrs.subscription ?? 'none',
      }));
      setContacts((cs) => fromRoster(cs, items));
      await x.send(xml('presence', {}, xml('status', {}, 'on the Vigil demo page')));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setState('offline');
    }
  };

  /** Closes the WebSocket without a closing stream: the node sees the client vanish (client-lost). */
  const kill = () => xmpp.current?.socket?.socket?.close();
  const logOut = () => void xmpp.current?.stop().catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));

  return (
    <article class="card" aria-labelledby={`demo-${user.username}`} data-demo-user={user.username}>
      <h2 id={`demo-${user.username}`}>{jid}</h2>
      <p class="hint">
        via {user.wsUrl} · <span data-testid="demo-state">{state}</span>
      </p>
      <div class="buttons-row">
        {state === 'offline' ? (
          <button type="button" onClick={() => void logIn()}>
            Log in {user.username}
          </button>
        ) : (
          <>
            <button type="button" onClick={logOut} disabled={state !== 'online'}>
              Log out {user.username}
            </button>
            <button type="button" class="danger" onClick={kill} disabled={state !== 'online'}>
              Kill {user.username}'s connection
            </button>
          </>
        )}
      </div>
      {error !== undefined && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      <h3>Roster as {user.username}'s client sees it</h3>
      {Object.keys(contacts).length === 0 ? (
        <p>{state === 'online' ? 'No contacts.' : 'Log in to see the roster.'}</p>
      ) : (
        <ul class="contacts" aria-live="polite">
          {Object.values(contacts).map((c) => {
            const online = Object.keys(c.available).length > 0;
            return (
              <li key={c.jid} data-contact={c.jid} data-online={String(online)}>
                <span class={`badge ${online ? 'cause-available' : 'cause-client-lost'}`}>{online ? 'online' : 'offline'}</span> {c.name === '' ? c.jid : `${c.name} (${c.jid})`}{' '}
                <span class="hint">subscription {c.subscription}</span>
              </li>
            );
          })}
        </ul>
      )}
    </article>
  );
}

/**
 * The dev cluster's demo panel: log the demo users in from this page, then
 * kill a connection or a whole connection node and watch the contacts see
 * it. Only present when the dev cluster enabled it.
 */
export function Demo({ demo, scope }: { demo: DemoView; scope: Scope }) {
  const [confirmRequest, confirm] = useConfirm();
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const killNode = async (nodeId: string) => {
    const ok = await confirm(
      `SIGKILL ${nodeId}?`,
      `The dev cluster kills the ${nodeId} process without warning and starts a new incarnation a few seconds later. Its users' contacts see them go offline when the node's lease runs out (node-lost).`,
      'SIGKILL',
    );
    if (!ok) return;
    try {
      const r = await post<{ message: string }>('/api/demo/kill-node', { nodeId });
      setNotice({ ok: true, text: r.message });
    } catch (e) {
      setNotice({ ok: false, text: e instanceof RequestError ? e.message : String(e) });
    }
  };
  return (
    <main id="main">
      <h1>Demo</h1>
      <p>
        Log the demo users in from this page (real XMPP over WebSocket), then kill one's connection, or a whole connection node, and watch their contacts see them go
        offline. Watch the same on the <a href="#/feed">presence feed</a>.
      </p>
      <Notice notice={notice} />
      <div class="grid">
        {demo.users.map((u) => (
          <DemoClient key={u.username} user={u} domain={demo.domain} />
        ))}
      </div>
      <h2>Connection nodes</h2>
      {scope === 'admin' ? (
        <div class="buttons-row">
          {demo.nodes.map((n) => (
            <button key={n.nodeId} type="button" class="danger" onClick={() => void killNode(n.nodeId)}>
              SIGKILL {n.nodeId}
            </button>
          ))}
        </div>
      ) : (
        <p>Killing a node needs an admin token.</p>
      )}
      <ConfirmDialog request={confirmRequest} />
    </main>
  );
}
