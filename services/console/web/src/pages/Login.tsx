import { useState } from 'preact/hooks';
import type { Me } from '../../../src/view.js';
import { login, RequestError } from '../api.js';

/**
 * The token goes to the console in a POST body; the console keeps it and
 * sets an HttpOnly cookie, so the page never holds it after this form.
 */
export function Login({ message, onLoggedIn }: { message: string | undefined; onLoggedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(message);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const me = await login(token.trim());
      setToken('');
      onLoggedIn(me);
    } catch (err) {
      setError(err instanceof RequestError ? err.message : 'Login failed.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <h1>Vigil console</h1>
      <form onSubmit={submit} aria-describedby={error === undefined ? undefined : 'login-error'}>
        <label for="token">API token</label>
        <p class="hint" id="token-hint">
          An admin or read-only token of the cluster's gRPC API (<code>npm start</code> prints both). Read-only tokens see; admin tokens act.
        </p>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          aria-describedby="token-hint"
          aria-invalid={error !== undefined}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        {error !== undefined && (
          <p id="login-error" class="notice error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
