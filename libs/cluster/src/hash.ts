import { createHash } from 'node:crypto';

/** FNV-1a over the UTF-8 bytes of `s`: stable across processes and versions. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Token for a user's delivery subject. A hash keeps JIDs (which may contain
 * characters NATS subjects cannot) out of subjects; collisions are harmless
 * because a node checks the exact JID before writing to a socket.
 */
export function deliveryToken(bareJid: string): string {
  return createHash('sha256').update(bareJid, 'utf8').digest('hex').slice(0, 20);
}
