import { api } from '@vigil/proto';
import { oneLine } from './exit-codes.js';

/** Columns aligned with two spaces, headers in capitals, no trailing blanks. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_, i) => oneLine(r[i] ?? '')))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - [...c].length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** An enum value's JSON name without its prefix, for people: `SHOW_DND` → `dnd`, `CHANGE_CAUSE_CLIENT_LOST` → `client-lost`. */
export function label(jsonName: string, prefix: string): string {
  const rest = jsonName.startsWith(prefix) ? jsonName.slice(prefix.length) : jsonName;
  return rest.toLowerCase().replace(/_/g, '-');
}

/** A Show for people: `available`, `chat`, `away`, `xa`, `dnd`. */
export const show = (s: api.presence.Show): string => label(api.presence.showToJSON(s), 'SHOW_');

/** Milliseconds since the Unix epoch as ISO 8601 UTC to the second; empty for 0 (unknown). */
export function time(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '';
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min`, `2 h`, `3 d`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h`;
  return `${Math.floor(ms / 86_400_000)} d`;
}

/**
 * The q-quantile (0 < q ≤ 1) of a bucketed histogram as what the buckets
 * can tell: "≤ 5 ms" (the upper bound of the bucket holding it) or "> 60 s"
 * past the last bound; "" when the histogram is empty.
 */
export function histogramQuantile(h: { readonly boundsSeconds: readonly number[]; readonly counts: readonly number[]; readonly count: number }, q: number): string {
  if (h.count <= 0) return '';
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  let i = 0;
  for (; i < h.counts.length - 1; i++) {
    seen += h.counts[i] ?? 0;
    if (seen >= rank) break;
  }
  const upper = h.boundsSeconds[i];
  return upper === undefined ? `> ${bound(h.boundsSeconds[h.boundsSeconds.length - 1] ?? 0)}` : `≤ ${bound(upper)}`;
}

/** A bucket bound for people, to three significant digits: `0.25 ms`, `2.5 ms`, `1.5 s`. */
const bound = (seconds: number): string => (seconds < 1 ? `${Number((seconds * 1000).toPrecision(3))} ms` : `${Number(seconds.toPrecision(3))} s`);

/** `n thing` / `n things`. */
export const count = (n: number, thing: string): string => `${n} ${thing}${n === 1 ? '' : 's'}`;

/** A ts-proto message codec (only its JSON side is needed here). */
export interface JsonCodec<T> {
  toJSON(message: T): unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/**
 * A message in the proto3 JSON mapping (lowerCamelCase names, enums by
 * name, oneof members under their own name) with every field present:
 * ts-proto's toJSON leaves defaults out (an offline user would have no
 * `resources`), so they are put back from the decoded message, which has
 * them all. An unset sub-message is null.
 */
export function toJson<T>(codec: JsonCodec<T>, message: T): unknown {
  return withDefaults(message, codec.toJSON(message));
}

function withDefaults(decoded: unknown, json: unknown): unknown {
  if (Array.isArray(decoded)) {
    const arr = Array.isArray(json) ? json : [];
    return decoded.map((d, i) => withDefaults(d, arr[i]));
  }
  if (!isRecord(decoded)) return json !== undefined ? json : (decoded ?? null);
  const obj = isRecord(json) ? json : {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(decoded)) {
    // A oneof (oneof=unions): { $case: 'change', change: {...} } appears as "change": {...}.
    if (isRecord(value) && typeof value.$case === 'string') {
      out[value.$case] = withDefaults(value[value.$case], obj[value.$case]);
    } else {
      out[key] = withDefaults(value, obj[key]);
    }
  }
  return out;
}
