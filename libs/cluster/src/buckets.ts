/** JetStream KV buckets and their key encoding. */
export const BUCKETS = {
  accounts: 'vigil_accounts',
  rosters: 'vigil_rosters',
  lastSeen: 'vigil_lastseen',
  sessions: 'vigil_sessions',
  shards: 'vigil_shards',
} as const;

/**
 * KV keys allow `[-/_=.a-zA-Z0-9]`; usernames (JID localparts) allow far
 * more. Lowercase letters, digits and '-' stay readable; every other byte of
 * the UTF-8 form becomes `_hh`. Injective because '_' itself is escaped.
 */
export function userKey(localpart: string): string {
  let out = '';
  for (const byte of Buffer.from(localpart, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[a-z0-9-]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function userFromKey(key: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '_') {
      bytes.push(parseInt(key.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(key.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
