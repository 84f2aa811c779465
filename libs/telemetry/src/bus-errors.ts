import { counter } from './metrics.js';
import type { Logger } from './log.js';

let dropped: ReturnType<typeof counter> | undefined;

/**
 * The subject with its per-user and per-shard parts generalized, so the
 * metric keeps a bounded set of labels: `vigil.shard.17.session` →
 * `vigil.shard.*.session`, `vigil.deliver.<hash>` → `vigil.deliver.*`.
 */
export function subjectKind(subject: string): string {
  return subject
    .split('.')
    .map((t) => (/^\d+$/.test(t) || /^[0-9a-f]{12,}$/.test(t) ? '*' : t))
    .join('.');
}

/**
 * A message on a Vigil subject that could not be decoded or handled: counted
 * (`vigil_bus_messages_dropped` by subject kind), logged with its subject
 * and dropped. Never fatal: one bad publisher must not take a process down.
 */
export function droppedMessage(log: Logger, subject: string, err: unknown): void {
  dropped ??= counter('vigil_bus_messages_dropped', 'Messages on Vigil subjects that failed to decode or to be handled, dropped, by subject kind');
  dropped.add(1, { subject: subjectKind(subject) });
  log.warn('dropped malformed message', { subject, err });
}
