import type { Cause, LeaseState, Show } from '../../src/view.js';

/** Words people read for the console's enums and times. */

export function age(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function clock(unixMs: number): string {
  if (unixMs <= 0) return '—';
  const d = new Date(unixMs);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString()}`;
}

export function time(unixMs: number): string {
  return new Date(unixMs > 0 ? unixMs : Date.now()).toLocaleTimeString();
}

export const LEASE_LABEL: Readonly<Record<LeaseState, string>> = { live: 'live', late: 'late', expired: 'expired', unknown: 'unknown' };

export const SHOW_LABEL: Readonly<Record<Show, string>> = {
  available: 'available',
  chat: 'free for chat',
  away: 'away',
  xa: 'extended away',
  dnd: 'do not disturb',
  unknown: 'unknown',
};

export const CAUSE_LABEL: Readonly<Record<Cause, string>> = {
  available: 'available',
  graceful: 'graceful',
  'client-lost': 'client-lost',
  'node-lost': 'node-lost',
  kicked: 'kicked',
  unknown: 'unknown',
};
