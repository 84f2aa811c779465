import * as crypto from 'node:crypto';

const { createHash } = crypto;
/** Absent before Node 20.12 (the engines field allows 20.10). */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** FNV-1a over the UTF-8 bytes of `s`: stable across processes and versions. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  // ASCII (nearly every JID) is its own UTF-8: hashed from the string, with no Buffer per call (an authority hashes
  // a JID for every delivery it stamps); anything else goes through the encoder, so the value is the same either way.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return fnv1a32Utf8(s);
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function fnv1a32Utf8(s: string): number {
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
  return sha256Hex(bareJid).slice(0, 20);
}

/**
 * SHA-256 of the UTF-8 bytes, in hex. The one-shot `crypto.hash` (Node
 * 20.12+) costs about a third of a Hash object's, and an authority hashes a
 * subject for every presence change it publishes; older Nodes take the object.
 */
const sha256Hex: (s: string) => string =
  typeof oneShotHash === 'function' ? (s) => oneShotHash('sha256', s, 'hex') : (s) => createHash('sha256').update(s, 'utf8').digest('hex');
