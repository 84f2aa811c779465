import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Link } from './live.js';

/** The link state, announced politely to screen readers. Only words; nothing from the network is HTML. */
export function LinkBanner({ link, what }: { link: Link; what: string }) {
  const text =
    link.state === 'connected' ? `${what}: live` : link.state === 'connecting' ? `${what}: connecting…` : `${what}: disconnected, retrying (${link.reason})`;
  return (
    <p class={`link link-${link.state}`} role="status" aria-live="polite" data-testid="link">
      {text}
    </p>
  );
}

/** A message after an action: success or the console's error, announced. */
export function Notice({ notice }: { notice: { ok: boolean; text: string } | undefined }) {
  if (notice === undefined) return <p class="notice" role="status" aria-live="polite" />;
  return (
    <p class={notice.ok ? 'notice ok' : 'notice error'} role={notice.ok ? 'status' : 'alert'} aria-live="polite">
      {notice.text}
    </p>
  );
}

export interface ConfirmRequest {
  readonly title: string;
  readonly body: string;
  readonly confirmLabel: string;
  readonly resolve: (ok: boolean) => void;
}

/**
 * A modal <dialog> that asks before an admin action. showModal() traps focus
 * and Escape cancels, so it is usable from the keyboard; the safe choice
 * (Cancel) has focus first.
 */
export function ConfirmDialog({ request }: { request: ConfirmRequest | undefined }) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d === null) return;
    if (request !== undefined && !d.open) {
      d.showModal();
      cancelRef.current?.focus();
    }
    if (request === undefined && d.open) d.close();
  }, [request]);
  const answer = (ok: boolean) => () => request?.resolve(ok);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" aria-describedby="confirm-body" onCancel={answer(false)} data-testid="confirm">
      <h2 id="confirm-title">{request?.title ?? ''}</h2>
      <p id="confirm-body">{request?.body ?? ''}</p>
      <div class="buttons">
        <button type="button" ref={cancelRef} onClick={answer(false)}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={answer(true)}>
          {request?.confirmLabel ?? 'Confirm'}
        </button>
      </div>
    </dialog>
  );
}

/** A confirm() for admin actions that returns a promise, backed by ConfirmDialog. */
export function useConfirm(): [ConfirmRequest | undefined, (title: string, body: string, confirmLabel: string) => Promise<boolean>] {
  const [request, setRequest] = useState<ConfirmRequest | undefined>(undefined);
  const ask = (title: string, body: string, confirmLabel: string): Promise<boolean> =>
    new Promise((resolve) =>
      setRequest({
        title,
        body,
        confirmLabel,
        resolve: (ok) => {
          setRequest(undefined);
          resolve(ok);
        },
      }),
    );
  return [request, ask];
}

/** A table that scrolls sideways on narrow screens instead of breaking the page. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
