import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { Me } from '../../src/view.js';
import { logout, RequestError, whoAmI } from './api.js';
import { Demo } from './pages/Demo.js';
import { Feed } from './pages/Feed.js';
import { Login } from './pages/Login.js';
import { Overview } from './pages/Overview.js';
import { User } from './pages/User.js';

type Route = { readonly page: 'overview' } | { readonly page: 'feed' } | { readonly page: 'demo' } | { readonly page: 'user'; readonly jid: string };

/** Pages live in the hash (#/users/alice@localhost): bookmarkable, and nothing secret ever goes there. */
function route(hash: string): Route {
  const m = /^#\/users\/(.+)$/.exec(hash);
  if (m?.[1] !== undefined) {
    try {
      return { page: 'user', jid: decodeURIComponent(m[1]) };
    } catch {
      return { page: 'overview' };
    }
  }
  if (hash === '#/feed') return { page: 'feed' };
  if (hash === '#/demo') return { page: 'demo' };
  return { page: 'overview' };
}

function useRoute(): Route {
  const [r, setR] = useState(route(location.hash));
  useEffect(() => {
    const on = () => setR(route(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return r;
}

/** The skip link moves focus without touching the hash, which holds the page's route. */
function skipToMain(e: Event): void {
  e.preventDefault();
  const main = document.getElementById('main');
  main?.setAttribute('tabindex', '-1');
  main?.focus();
}

type Auth = { readonly state: 'checking' } | { readonly state: 'out'; readonly message: string | undefined } | { readonly state: 'in'; readonly me: Me };

function App() {
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const r = useRoute();
  useEffect(() => {
    whoAmI().then(
      (me) => setAuth({ state: 'in', me }),
      (e: unknown) => setAuth({ state: 'out', message: e instanceof RequestError && !e.loggedOut ? e.message : undefined }),
    );
  }, []);
  const onLoggedOut = useCallback((message: string) => setAuth({ state: 'out', message }), []);
  useEffect(() => {
    const titles: Record<Route['page'], string> = { overview: 'Cluster', feed: 'Presence feed', demo: 'Demo', user: 'User' };
    document.title = `${auth.state === 'in' ? (r.page === 'user' ? r.jid : titles[r.page]) : 'Log in'} · Vigil console`;
  }, [r, auth.state]);

  if (auth.state === 'checking') return <p role="status">Loading…</p>;
  if (auth.state === 'out') return <Login message={auth.message} onLoggedIn={(me) => setAuth({ state: 'in', me })} />;
  const { me } = auth;
  const out = async () => {
    await logout().catch(() => undefined);
    setAuth({ state: 'out', message: 'Logged out.' });
  };
  const link = (href: string, page: Route['page'], text: string) => (
    <li>
      <a href={href} aria-current={r.page === page ? 'page' : undefined}>
        {text}
      </a>
    </li>
  );
  return (
    <>
      <a class="skip" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header>
        <span class="brand">Vigil console</span>
        <nav aria-label="Pages">
          <ul>
            {link('#/', 'overview', 'Cluster')}
            {link('#/feed', 'feed', 'Presence feed')}
            {me.demo !== undefined && link('#/demo', 'demo', 'Demo')}
          </ul>
        </nav>
        <span class="who" data-testid="scope">
          {me.scope === 'admin' ? 'Admin token' : 'Read-only token'}
        </span>
        <button type="button" onClick={() => void out()}>
          Log out
        </button>
      </header>
      {r.page === 'overview' && <Overview onLoggedOut={onLoggedOut} />}
      {r.page === 'feed' && <Feed onLoggedOut={onLoggedOut} />}
      {r.page === 'user' && <User key={r.jid} jid={r.jid} scope={me.scope} onLoggedOut={onLoggedOut} />}
      {r.page === 'demo' && (me.demo === undefined ? <main id="main"><p>This console has no demo panel.</p></main> : <Demo demo={me.demo} scope={me.scope} />)}
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
