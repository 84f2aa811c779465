// The page's feed state as pure functions: bundled into the front end (web/tsconfig.json
// includes this file) and unit-tested here on Node.
import type { FeedEvent, ResourceView } from './view.js';

/** Most feed lines a page keeps; older ones fall off the end. */
export const MAX_FEED_LINES = 200;

export interface FeedLine {
  readonly key: number;
  readonly event: FeedEvent;
  /** When the change happened (the owner's clock), or for a snapshot when it arrived. */
  readonly atUnixMs: number;
}

/** The newest line first, bounded. */
export function appendLine(lines: readonly FeedLine[], event: FeedEvent, key: number, nowUnixMs: number = Date.now()): FeedLine[] {
  const atUnixMs = event.kind === 'change' && event.atUnixMs > 0 ? event.atUnixMs : nowUnixMs;
  return [{ key, event, atUnixMs }, ...lines].slice(0, MAX_FEED_LINES);
}

/**
 * A user's available resources after a feed event: a snapshot replaces them
 * all (after every (re)connect), an available change replaces or adds one,
 * an unavailable change removes it.
 */
export function applyToResources(resources: readonly ResourceView[], jid: string, e: FeedEvent): readonly ResourceView[] {
  if (e.jid !== jid) return resources;
  if (e.kind === 'snapshot') return e.resources;
  const others = resources.filter((r) => r.resource !== e.resource);
  return e.available && e.presence !== undefined ? [...others, e.presence].sort((a, b) => a.resource.localeCompare(b.resource)) : others;
}
