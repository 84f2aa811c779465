/** The public API's PortableAccount (vigil.presence.v1) and this package's model, both ways. */
import { api } from '@vigil/proto';
import type { PieAccount, PieHash, PieItem, Problem, Subscription } from './model.js';

const M = api.migration;
const S = api.roster.Subscription;

const HASH_FROM_WIRE: Partial<Record<api.migration.ScramHash, PieHash>> = { [M.ScramHash.SCRAM_HASH_SHA_1]: 'sha1', [M.ScramHash.SCRAM_HASH_SHA_256]: 'sha256' };
const HASH_TO_WIRE: Record<string, api.migration.ScramHash> = { sha1: M.ScramHash.SCRAM_HASH_SHA_1, sha256: M.ScramHash.SCRAM_HASH_SHA_256 };
const SUB_FROM_WIRE: Partial<Record<api.roster.Subscription, Subscription>> = {
  [S.SUBSCRIPTION_NONE]: 'none', [S.SUBSCRIPTION_TO]: 'to', [S.SUBSCRIPTION_FROM]: 'from', [S.SUBSCRIPTION_BOTH]: 'both',
};
const SUB_TO_WIRE: Record<Subscription, api.roster.Subscription> = { none: S.SUBSCRIPTION_NONE, to: S.SUBSCRIPTION_TO, from: S.SUBSCRIPTION_FROM, both: S.SUBSCRIPTION_BOTH };

/** An account off the wire; enum values the model has no name for are errors on their field. */
export function accountFromWire(a: api.migration.PortableAccount, index = 0, problems: Problem[] = []): PieAccount {
  const err = (field: string, message: string): void => void problems.push({ severity: 'error', account: index, field, message });
  const scram = a.scramCredentials.flatMap((c, j) => {
    const hash = HASH_FROM_WIRE[c.hash];
    if (hash === undefined) {
      err(`scram_credentials[${j}].hash`, 'SCRAM_HASH_SHA_1 or SCRAM_HASH_SHA_256');
      return [];
    }
    return [{ hash, salt: Buffer.from(c.salt), iterations: c.iterations, storedKey: Buffer.from(c.storedKey), serverKey: Buffer.from(c.serverKey) }];
  });
  const items: PieItem[] = a.items.map((i, j) => {
    const subscription = SUB_FROM_WIRE[i.subscription];
    if (subscription === undefined) err(`items[${j}].subscription`, 'SUBSCRIPTION_NONE, _TO, _FROM or _BOTH');
    return { jid: i.jid, name: i.name, subscription: subscription ?? 'none', pendingOut: i.pendingOut, approved: i.approved, groups: i.groups };
  });
  return {
    username: a.username,
    ...(a.password !== '' ? { password: a.password } : {}),
    scram,
    items,
    pendingIn: a.pendingIn.map((p) => ({ from: p.fromJid, status: p.status })),
    blocked: a.blocked,
  };
}

export function accountToWire(a: PieAccount): api.migration.PortableAccount {
  return {
    username: a.username,
    password: a.password ?? '',
    scramCredentials: a.scram.map((c) => ({ hash: HASH_TO_WIRE[c.hash] ?? M.ScramHash.SCRAM_HASH_UNSPECIFIED, salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey })),
    items: a.items.map((i) => ({ jid: i.jid, name: i.name, subscription: SUB_TO_WIRE[i.subscription], pendingOut: i.pendingOut, approved: i.approved, groups: [...i.groups] })),
    pendingIn: a.pendingIn.map((p) => ({ fromJid: p.from, status: p.status })),
    blocked: [...a.blocked],
  };
}
