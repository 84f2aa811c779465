import { cluster } from '@vigil/proto';

/*
 * FanOutBatch (cluster.proto) in protobuf wire format, written in one pass
 * into one buffer. The generated encoder allocates a byte array per string
 * field, forks a writer per nested FanOut and grows its buffer by copying;
 * an authority encodes one batch per event-loop turn with a FanOut per
 * broadcast and per probe answer (about twenty per login), and that was its
 * largest item after socket writes and GC. The output is byte for byte the
 * generated encoder's (fan-out-codec.test.ts), which the nodes decode.
 */

const TAG_FAN_OUTS = (1 << 3) | 2;
const TAG_STANZA_XML = (1 << 3) | 2;
const TAG_FROM_BARE_JID = (2 << 3) | 2;
const TAG_SHARD = (3 << 3) | 0;
const TAG_EPOCH = (4 << 3) | 0;
const TAG_TO_JIDS = (5 << 3) | 2;

/** Bytes of `n` (an integer in [0, 2^53)) as a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** A string field (tag, length, UTF-8 bytes) at `pos`; returns the position after it. */
function writeString(buf: Buffer, pos: number, tag: number, s: string): number {
  buf[pos++] = tag;
  const bytes = utf8Length(s);
  pos = writeVarint(buf, pos, bytes);
  if (bytes !== s.length || bytes > 256) return pos + buf.write(s, pos, bytes, 'utf8');
  // As many bytes as UTF-16 units: ASCII, one byte each.
  for (let i = 0; i < bytes; i++) buf[pos + i] = s.charCodeAt(i);
  return pos + bytes;
}

/** A string field's size: tag, length, UTF-8 bytes (the caller skips empty strings, as proto3 does). */
function stringSize(bytes: number): number {
  return 1 + varintSize(bytes) + bytes;
}

/**
 * UTF-8 bytes of `s`. ASCII (JIDs, most stanzas) is counted here: a native
 * call per short string cost more than the loop.
 */
function utf8Length(s: string): number {
  if (s.length > 256) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** What the generated encoder would not write the way this one does: numbers that are no unsigned integers below 2^53. */
function plain(n: number, max: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= max;
}

/** cluster.FanOutBatch.encode({ fanOuts }).finish(), without the generated encoder's allocations. */
export function encodeFanOutBatch(fanOuts: readonly cluster.FanOut[]): Uint8Array {
  // Pass 1: the size of each FanOut (needed before its bytes) and of the whole batch.
  const sizes = new Array<number>(fanOuts.length);
  let total = 0;
  for (let i = 0; i < fanOuts.length; i++) {
    const f = fanOuts[i] as cluster.FanOut;
    if (!plain(f.shard, 0xffffffff) || !plain(f.epoch, Number.MAX_SAFE_INTEGER)) return cluster.FanOutBatch.encode({ fanOuts: [...fanOuts] }).finish();
    let size = 0;
    if (f.stanzaXml !== '') size += stringSize(utf8Length(f.stanzaXml));
    if (f.fromBareJid !== '') size += stringSize(utf8Length(f.fromBareJid));
    if (f.shard !== 0) size += 1 + varintSize(f.shard);
    if (f.epoch !== 0) size += 1 + varintSize(f.epoch);
    for (const to of f.toJids) size += stringSize(utf8Length(to));
    sizes[i] = size;
    total += 1 + varintSize(size) + size;
  }
  // Pass 2: the bytes.
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < fanOuts.length; i++) {
    const f = fanOuts[i] as cluster.FanOut;
    buf[pos++] = TAG_FAN_OUTS;
    pos = writeVarint(buf, pos, sizes[i] as number);
    if (f.stanzaXml !== '') pos = writeString(buf, pos, TAG_STANZA_XML, f.stanzaXml);
    if (f.fromBareJid !== '') pos = writeString(buf, pos, TAG_FROM_BARE_JID, f.fromBareJid);
    if (f.shard !== 0) {
      buf[pos++] = TAG_SHARD;
      pos = writeVarint(buf, pos, f.shard);
    }
    if (f.epoch !== 0) {
      buf[pos++] = TAG_EPOCH;
      pos = writeVarint(buf, pos, f.epoch);
    }
    for (const to of f.toJids) pos = writeString(buf, pos, TAG_TO_JIDS, to);
  }
  if (pos !== total) throw new Error(`encodeFanOutBatch: wrote ${pos} bytes, expected ${total}`);
  return buf;
}
