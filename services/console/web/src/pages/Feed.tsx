import { useRef, useState } from 'preact/hooks';
import { CAUSES, type Cause, type FeedEvent, type ResourceView } from '../../../src/view.js';
import { LinkBanner } from '../components.js';
import { appendLine, type FeedLine } from '../../../src/feed-state.js';
import { CAUSE_LABEL, SHOW_LABEL, time } from '../format.js';
import { useEventStream } from '../live.js';

const presence = (p: ResourceView): string => `${SHOW_LABEL[p.show]}, priority ${p.priority}, on ${p.nodeId}${p.status === '' ? '' : `, status “${p.status}”`}`;

/** One line of the feed, as text only. */
function describe(e: FeedEvent): string {
  if (e.kind === 'snapshot') return e.resources.length === 0 ? 'offline (snapshot)' : `online (snapshot): ${e.resources.map((r) => `${r.resource} ${presence(r)}`).join('; ')}`;
  if (!e.available) return 'unavailable';
  return e.presence === undefined ? 'available' : `available: ${presence(e.presence)}`;
}

export function FeedList({ lines, label }: { lines: readonly FeedLine[]; label: string }) {
  if (lines.length === 0)
    return (
      <div role="log" aria-label={label}>
        <p>Nothing yet.</p>
      </div>
    );
  return (
    <div role="log" aria-label={label}>
      <ol class="feed" data-testid="feed">
      {lines.map(({ key, event: e, atUnixMs }) => (
        <li key={key} data-kind={e.kind} data-cause={e.kind === 'change' ? e.cause : 'snapshot'}>
          <time dateTime={new Date(atUnixMs).toISOString()}>{time(atUnixMs)}</time> <span class="who">{e.kind === 'change' ? `${e.jid}/${e.resource}` : e.jid}</span>{' '}
          {e.kind === 'change' && <span class={`badge cause-${e.cause}`}>{CAUSE_LABEL[e.cause]}</span>} <span class="what">{describe(e)}</span>
        </li>
      ))}
      </ol>
    </div>
  );
}

/** `/api/presence/events` for these users (none: all accounts) and causes (none: all). */
export function feedUrl(jids: readonly string[], causes: readonly Cause[]): string {
  const q = new URLSearchParams();
  for (const j of jids) q.append('jid', j);
  for (const c of causes) q.append('cause', c);
  const s = q.toString();
  return `/api/presence/events${s === '' ? '' : `?${s}`}`;
}

/** The live presence feed of WatchPresence, with filters by user and cause. */
export function Feed({ onLoggedOut }: { onLoggedOut: (m: string) => void }) {
  const [users, setUsers] = useState('');
  const [causes, setCauses] = useState<readonly Cause[]>([]);
  const [url, setUrl] = useState(feedUrl([], []));
  const [lines, setLines] = useState<readonly FeedLine[]>([]);
  const next = useRef(0);
  const link = useEventStream(url, { feed: (d) => setLines((l) => appendLine(l, d as FeedEvent, next.current++)) }, onLoggedOut);
  const apply = (e: Event) => {
    e.preventDefault();
    const jids = users
      .split(/[\s,]+/)
      .map((j) => j.trim())
      .filter((j) => j !== '');
    setLines([]);
    setUrl(feedUrl(jids, causes));
  };
  const toggle = (c: Cause) => setCauses((cs) => (cs.includes(c) ? cs.filter((x) => x !== c) : [...cs, c]));
  return (
    <main id="main">
      <h1>Presence feed</h1>
      <LinkBanner link={link} what="Presence feed" />
      <form class="filters" onSubmit={apply}>
        <label for="feed-users">Users (bare JIDs, separated by spaces or commas; empty: every account)</label>
        <input id="feed-users" type="text" autocomplete="off" value={users} onInput={(e) => setUsers(e.currentTarget.value)} />
        <fieldset>
          <legend>Causes (none ticked: all)</legend>
          {CAUSES.map((c) => (
            <label key={c} class="check">
              <input type="checkbox" checked={causes.includes(c)} onChange={() => toggle(c)} /> {CAUSE_LABEL[c]}
            </label>
          ))}
        </fieldset>
        <button type="submit">Apply filters</button>
      </form>
      <FeedList lines={lines} label="Presence changes, newest first" />
    </main>
  );
}
