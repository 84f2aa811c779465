import { useEffect, useRef, useState } from 'preact/hooks';
import type { LinkStatus } from '../../src/view.js';
import { whoAmI } from './api.js';

/** What a live view shows about its link: to the console, and through it to the cluster. */
export type Link = { readonly state: 'connecting' } | { readonly state: 'connected' } | { readonly state: 'retrying'; readonly reason: string };

export interface StreamHandlers {
  /** Named events and their JSON bodies. */
  readonly [event: string]: (data: unknown) => void;
}

/** Browsers retry an EventSource by themselves; after a refusal (401, 503) we wait this long and try again. */
const REOPEN_MS = 2000;

/**
 * A server-sent event stream from the console, open while the component is
 * mounted (and while `url` stays the same). It tracks the link: the
 * console's `status` events say whether the cluster is reachable; a broken
 * connection to the console itself says so too. `onLoggedOut` runs when the
 * console no longer knows the session.
 */
export function useEventStream(url: string | undefined, handlers: StreamHandlers, onLoggedOut: (message: string) => void): Link {
  const [link, setLink] = useState<Link>({ state: 'connecting' });
  const current = useRef(handlers);
  current.current = handlers;
  const loggedOut = useRef(onLoggedOut);
  loggedOut.current = onLoggedOut;

  useEffect(() => {
    if (url === undefined) return;
    let source: EventSource | undefined;
    let timer: number | undefined;
    let stopped = false;
    const open = (): void => {
      if (stopped) return;
      const s = new EventSource(url);
      source = s;
      const names = new Set([...Object.keys(current.current), 'status', 'refused']);
      for (const name of names) {
        s.addEventListener(name, (ev) => {
          let data: unknown;
          try {
            data = JSON.parse((ev as MessageEvent<string>).data);
          } catch {
            return;
          }
          if (name === 'status') {
            const st = data as LinkStatus;
            setLink(st.connected ? { state: 'connected' } : { state: 'retrying', reason: st.reason });
          } else if (name === 'refused') {
            const r = data as { error: string; code: string };
            if (r.code === 'token-refused') loggedOut.current(r.error);
            else setLink({ state: 'retrying', reason: r.error });
          }
          current.current[name]?.(data);
        });
      }
      s.onerror = () => {
        if (stopped) return;
        setLink({ state: 'retrying', reason: 'the console cannot be reached' });
        if (s.readyState !== EventSource.CLOSED) return; // the browser retries by itself
        // Refused outright: logged out, or the console is busy. Ask which.
        whoAmI().then(
          () => (timer = window.setTimeout(open, REOPEN_MS)),
          (e: { loggedOut?: boolean; message?: string }) => {
            if (e.loggedOut === true) loggedOut.current('Your session ended: log in again.');
            else timer = window.setTimeout(open, REOPEN_MS);
          },
        );
      };
    };
    setLink({ state: 'connecting' });
    open();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      source?.close();
    };
  }, [url]);
  return link;
}
