/**
 * Populations for load tests as XEP-0227 files: `accounts` users named
 * `<prefix><n>` with password `<prefix><n>-pass` (or no credentials), each
 * with `contacts` mutual contacts (subscription both, group "Load"), the
 * neighbours n±1 … n±contacts/2 around a ring, so every roster is consistent
 * both ways and the whole population is one connected graph.
 */
import type { PieAccount, PieItem } from './model.js';
import { DOCUMENT_TAIL, documentHead, writeUser } from './write.js';

export interface PopulationSpec {
  readonly domain: string;
  readonly accounts: number;
  /** Contacts per account: even, fewer than `accounts`. */
  readonly contacts: number;
  /** Username prefix (default "user"). */
  readonly prefix?: string;
  /** Plaintext passwords in the file (default true). */
  readonly passwords?: boolean;
}

export const populationUser = (prefix: string, n: number): string => `${prefix}${n}`;
export const populationPassword = (username: string): string => `${username}-pass`;

export function populationAccount(spec: PopulationSpec, n: number): PieAccount {
  const prefix = spec.prefix ?? 'user';
  const half = spec.contacts / 2;
  const items: PieItem[] = [];
  for (let d = 1; d <= half; d++) {
    for (const m of [(n + d) % spec.accounts, (n - d + spec.accounts) % spec.accounts]) {
      items.push({ jid: `${populationUser(prefix, m)}@${spec.domain}`, name: '', subscription: 'both', pendingOut: false, approved: false, groups: ['Load'] });
    }
  }
  const username = populationUser(prefix, n);
  return { username, ...(spec.passwords ?? true ? { password: populationPassword(username) } : {}), scram: [], items, pendingIn: [], blocked: [] };
}

/** The document in chunks (one per user), for a write stream. */
export function* generatePopulation(spec: PopulationSpec): Generator<string> {
  if (!Number.isInteger(spec.contacts) || spec.contacts % 2 !== 0 || spec.contacts < 0) throw new RangeError(`contacts must be an even number, got ${spec.contacts}`);
  if (!Number.isInteger(spec.accounts) || spec.accounts <= spec.contacts) throw new RangeError(`accounts (${spec.accounts}) must be more than contacts (${spec.contacts})`);
  yield documentHead(spec.domain);
  for (let n = 0; n < spec.accounts; n++) yield writeUser(populationAccount(spec, n), spec.domain);
  yield DOCUMENT_TAIL;
}
