import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { FeedEvent, ResourceView, Scope, UserView } from '../../../src/view.js';
import { get, post, RequestError, userPath } from '../api.js';
import { ConfirmDialog, LinkBanner, Notice, TableWrap, useConfirm } from '../components.js';
import { appendLine, applyToResources, type FeedLine } from '../../../src/feed-state.js';
import { clock, SHOW_LABEL } from '../format.js';
import { useEventStream } from '../live.js';
import { FeedList, feedUrl } from './Feed.js';

type Notice = { ok: boolean; text: string } | undefined;

/** After a presence change the user's sessions and last seen are read again, at most this often. */
const RELOAD_AFTER_CHANGE_MS = 1000;

/**
 * One user: live presence (a WatchPresence feed for this JID keeps it
 * current), roster, pending requests, block list, last seen, and for admin
 * tokens the actions, each confirmed first.
 */
export function User({ jid, scope, onLoggedOut }: { jid: string; scope: Scope; onLoggedOut: (m: string) => void }) {
  const [user, setUser] = useState<UserView | undefined>(undefined);
  const [resources, setResources] = useState<readonly ResourceView[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<Notice>(undefined);
  const [lines, setLines] = useState<readonly FeedLine[]>([]);
  const [confirmRequest, confirm] = useConfirm();
  const next = useRef(0);

  const load = useCallback(() => {
    get<UserView>(userPath(jid)).then(
      (u) => {
        setUser(u);
        setResources(u.resources);
        setError(undefined);
      },
      (e: unknown) => {
        if (e instanceof RequestError && e.loggedOut) onLoggedOut(e.message);
        else setError(e instanceof RequestError ? e.message : 'could not read the user');
      },
    );
  }, [jid, onLoggedOut]);
  useEffect(() => {
    setUser(undefined);
    setLines([]);
    load();
  }, [load]);

  const reloadTimer = useRef<number | undefined>(undefined);
  const reloadSoon = () => {
    if (reloadTimer.current !== undefined) return;
    reloadTimer.current = window.setTimeout(() => {
      reloadTimer.current = undefined;
      load();
    }, RELOAD_AFTER_CHANGE_MS);
  };
  useEffect(() => () => window.clearTimeout(reloadTimer.current), []);

  const link = useEventStream(
    feedUrl([jid], []),
    {
      feed: (d) => {
        const e = d as FeedEvent;
        setResources((r) => applyToResources(r, jid, e));
        // The stream is first to know: mark the session unavailable now; the re-read below says whether it is gone.
        if (e.kind === 'change' && !e.available)
          setUser((u) => u && { ...u, sessions: u.sessions.map((x) => (x.fullJid === `${jid}/${e.resource}` ? { ...x, available: false } : x)) });
        setLines((l) => appendLine(l, e, next.current++));
        // A change moves sessions and last seen: read the user again, at most once a second.
        if (e.kind === 'change') reloadSoon();
      },
    },
    onLoggedOut,
  );

  /** Runs an admin action after confirmation; shows the outcome; re-reads the user. */
  const act = async (title: string, body: string, label: string, run: () => Promise<unknown>, done: string): Promise<boolean> => {
    if (!(await confirm(title, body, label))) return false;
    try {
      await run();
      setNotice({ ok: true, text: done });
      load();
      return true;
    } catch (e) {
      if (e instanceof RequestError && e.loggedOut) onLoggedOut(e.message);
      setNotice({ ok: false, text: e instanceof Error ? e.message : String(e) });
      return false;
    }
  };
  const admin = scope === 'admin';

  return (
    <main id="main">
      <h1>
        User <span class="jid">{jid}</span>
      </h1>
      <LinkBanner link={link} what="Live presence" />
      <Notice notice={notice} />
      {error !== undefined && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      <section aria-labelledby="presence-h">
        <h2 id="presence-h">Presence</h2>
        <p data-testid="presence-summary">
          {resources.length === 0 ? 'Unavailable (no available resource)' : `Available: ${resources.length} resource${resources.length === 1 ? '' : 's'}`}
          {user !== undefined && resources.length === 0 && (user.lastSeen.neverSeen ? '; never seen.' : `; last seen ${clock(user.lastSeen.atUnixMs)}${user.lastSeen.status === '' ? '' : ` (“${user.lastSeen.status}”)`}.`)}
        </p>
        {resources.length > 0 && (
          <TableWrap label="Available resources">
            <table data-testid="resources">
              <thead>
                <tr>
                  <th scope="col">Resource</th>
                  <th scope="col">Show</th>
                  <th scope="col">Status</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Node</th>
                  <th scope="col">Since</th>
                </tr>
              </thead>
              <tbody>
                {resources.map((r) => (
                  <tr key={r.resource} data-resource={r.resource}>
                    <th scope="row">{r.resource}</th>
                    <td>{SHOW_LABEL[r.show]}</td>
                    <td class="status-text">{r.status}</td>
                    <td>{r.priority}</td>
                    <td>{r.nodeId}</td>
                    <td>{clock(r.sinceUnixMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
      {user !== undefined && <Sessions user={user} admin={admin} act={act} />}
      <section aria-labelledby="feed-h">
        <h2 id="feed-h">Changes</h2>
        <FeedList lines={lines} label={`Presence changes of ${jid}, newest first`} />
      </section>
      {user !== undefined && <Roster user={user} admin={admin} act={act} />}
      {user !== undefined && <Lists user={user} />}
      {admin && user !== undefined && <Password jid={jid} act={act} />}
      <ConfirmDialog request={confirmRequest} />
    </main>
  );
}

type Act = (title: string, body: string, label: string, run: () => Promise<unknown>, done: string) => Promise<boolean>;

/** The sessions the cluster announced (from their first presence), with the node incarnation holding each. */
function Sessions({ user, admin, act }: { user: UserView; admin: boolean; act: Act }) {
  return (
    <section aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      {user.sessions.length === 0 ? (
        <p>No session.</p>
      ) : (
        <TableWrap label="Sessions">
          <table data-testid="sessions">
            <thead>
              <tr>
                <th scope="col">Full JID</th>
                <th scope="col">Available</th>
                <th scope="col">Node</th>
                <th scope="col">Incarnation</th>
                <th scope="col">Directed presence to</th>
                {admin && <th scope="col">Action</th>}
              </tr>
            </thead>
            <tbody>
              {user.sessions.map((s) => (
                <tr key={s.sessionId} data-session={s.fullJid}>
                  <th scope="row">{s.fullJid}</th>
                  <td>{s.available ? 'yes' : 'no'}</td>
                  <td>{s.nodeId}</td>
                  <td>
                    <code>{s.incarnation}</code>
                  </td>
                  <td>{s.directedTo.join(', ')}</td>
                  {admin && (
                    <td>
                      <button
                        type="button"
                        class="danger"
                        aria-label={`Kick ${s.fullJid}`}
                        onClick={() =>
                          void act(
                            `Kick ${s.fullJid}?`,
                            'The session is ended with a policy-violation stream error; its contacts see it go unavailable (cause: kicked).',
                            'Kick',
                            () => post(`${userPath(user.jid)}/kick`, { fullJid: s.fullJid, reason: 'kicked from the Vigil console' }),
                            `Kicked ${s.fullJid}.`,
                          )
                        }
                      >
                        Kick
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}

function Roster({ user, admin, act }: { user: UserView; admin: boolean; act: Act }) {
  const [contact, setContact] = useState('');
  const [name, setName] = useState('');
  const [groups, setGroups] = useState('');
  const [subscribe, setSubscribe] = useState(true);
  const add = async (e: Event) => {
    e.preventDefault();
    const c = contact.trim();
    const ok = await act(
      `Add ${c} to ${user.jid}'s roster?`,
      subscribe ? `This also asks ${c} for a subscription to their presence, as the user's client would.` : 'The item is added without a subscription request.',
      'Add',
      () => post(`${userPath(user.jid)}/roster`, { contact: c, name, groups, subscribe }),
      `Added ${c}.`,
    );
    if (ok) {
      setContact('');
      setName('');
      setGroups('');
    }
  };
  return (
    <section aria-labelledby="roster-h">
      <h2 id="roster-h">Roster</h2>
      {user.roster.length === 0 ? (
        <p>The roster is empty.</p>
      ) : (
        <TableWrap label="Roster">
          <table data-testid="roster">
            <thead>
              <tr>
                <th scope="col">Contact</th>
                <th scope="col">Name</th>
                <th scope="col">Subscription</th>
                <th scope="col">Pending out</th>
                <th scope="col">Groups</th>
                {admin && <th scope="col">Action</th>}
              </tr>
            </thead>
            <tbody>
              {user.roster.map((i) => (
                <tr key={i.jid}>
                  <th scope="row">
                    <a href={`#/users/${encodeURIComponent(i.jid)}`}>{i.jid}</a>
                  </th>
                  <td>{i.name}</td>
                  <td>{i.subscription}</td>
                  <td>{i.pendingOut ? 'yes' : 'no'}</td>
                  <td>{i.groups.join(', ')}</td>
                  {admin && (
                    <td>
                      <button
                        type="button"
                        class="danger"
                        aria-label={`Remove ${i.jid} from the roster`}
                        onClick={() =>
                          void act(
                            `Remove ${i.jid} from ${user.jid}'s roster?`,
                            'Subscriptions both ways are cancelled, as a roster removal from the client would (RFC 6121 §2.5).',
                            'Remove',
                            () => post(`${userPath(user.jid)}/roster/remove`, { contact: i.jid }),
                            `Removed ${i.jid}.`,
                          )
                        }
                      >
                        Remove
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {admin && (
        <form class="stack" onSubmit={add}>
          <h3>Add a contact</h3>
          <label for="add-contact">Contact (bare JID)</label>
          <input id="add-contact" type="text" required autocomplete="off" value={contact} onInput={(e) => setContact(e.currentTarget.value)} />
          <label for="add-name">Name (optional)</label>
          <input id="add-name" type="text" autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <label for="add-groups">Groups (optional, separated by commas)</label>
          <input id="add-groups" type="text" autocomplete="off" value={groups} onInput={(e) => setGroups(e.currentTarget.value)} />
          <label class="check">
            <input type="checkbox" checked={subscribe} onChange={(e) => setSubscribe(e.currentTarget.checked)} /> Ask for a subscription
          </label>
          <button type="submit">Add contact</button>
        </form>
      )}
    </section>
  );
}

function Lists({ user }: { user: UserView }) {
  return (
    <section aria-labelledby="lists-h">
      <h2 id="lists-h">Requests and blocks</h2>
      <h3>Pending subscription requests</h3>
      {user.pendingIn.length === 0 ? (
        <p>None.</p>
      ) : (
        <ul>
          {user.pendingIn.map((p) => (
            <li key={p.from}>
              {p.from} (since {clock(p.receivedAtUnixMs)})
            </li>
          ))}
        </ul>
      )}
      <h3>Block list</h3>
      {user.blocked.length === 0 ? (
        <p>Nobody is blocked.</p>
      ) : (
        <ul data-testid="blocked">
          {user.blocked.map((b) => (
            <li key={b}>{b}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Password({ jid, act }: { jid: string; act: Act }) {
  const [password, setPassword] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await act(
      `Reset the password of ${jid}?`,
      'Sessions already logged in stay connected; the next login needs the new password.',
      'Reset password',
      () => post(`${userPath(jid)}/password`, { password }),
      `The password of ${jid} was reset.`,
    );
    if (ok) setPassword('');
  };
  return (
    <section aria-labelledby="password-h">
      <h2 id="password-h">Reset password</h2>
      <form class="inline" onSubmit={submit}>
        <label for="new-password">New password (4 to 1024 characters)</label>
        <input id="new-password" type="password" autocomplete="new-password" required minLength={4} maxLength={1024} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <button type="submit">Reset password</button>
      </form>
    </section>
  );
}
