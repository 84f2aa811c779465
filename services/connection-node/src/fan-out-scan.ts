/**
 * Reads a `FanOutBatch` (proto/vigil/cluster/v1/cluster.proto) without
 * building it. Every node receives every batch, and most of its fan-outs
 * are for sessions on other nodes: decoding them in full (an object, a
 * string for the stanza, the sender and each recipient, a BigInt for the
 * epoch) was a third of a connection node's garbage during a login storm.
 * Here a fan-out's recipients are read as strings (they are the node's
 * lookup keys), its stanza and sender only when the caller asks.
 *
 * For every well-formed message the values are those of the generated
 * `cluster.FanOutBatch.decode` (fan-out-scan.test.ts compares them):
 * fields in any order, the last of a repeated scalar wins, unknown fields
 * and fields of an unexpected wire type are skipped, an epoch beyond
 * Number.MAX_SAFE_INTEGER is an error. What is not well-formed protobuf
 * (a length past the end, a varint longer than ten bytes, field number 0,
 * groups, wire types 6 and 7) throws a FanOutScanError before `visit` is
 * called at all, so a bad batch is dropped whole.
 */

/** One fan-out of the batch, valid only during the `visit` call that receives it. */
export interface FanOutView {
  readonly shard: number;
  readonly epoch: number;
  readonly recipientCount: number;
  /** Recipient `i` (full or bare JID), decoded at each call. */
  recipient(i: number): string;
  /** The stanza, serialized without 'to'; decoded at each call. */
  stanzaXml(): string;
  fromBareJid(): string;
}

export class FanOutScanError extends Error {
  override readonly name = 'FanOutScanError';
  constructor(message: string, readonly offset: number) {
    super(`malformed FanOutBatch at byte ${offset}: ${message}`);
  }
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Field tags (field number << 3 | wire type) of FanOutBatch and FanOut. */
const TAG_BATCH_FAN_OUTS = (1 << 3) | WIRE_LEN;
const TAG_STANZA_XML = (1 << 3) | WIRE_LEN;
const TAG_FROM_BARE_JID = (2 << 3) | WIRE_LEN;
const TAG_SHARD = (3 << 3) | WIRE_VARINT;
const TAG_EPOCH = (4 << 3) | WIRE_VARINT;
const TAG_TO_JIDS = (5 << 3) | WIRE_LEN;

/**
 * Calls `visit` once per fan-out, in order. `data` is read, never kept
 * after the call returns.
 */
export function scanFanOutBatch(data: Uint8Array, visit: (f: FanOutView) => void): void {
  const view = new Scan(data);
  // First the whole message's framing, so that nothing is visited of a batch that turns out to be malformed.
  view.check();
  view.visitAll(visit);
}

class Scan implements FanOutView {
  readonly #bytes: Buffer;
  #pos = 0;
  // The fan-out being visited: value fields, and where its strings lie (start, end pairs; -1 when absent).
  shard = 0;
  epoch = 0;
  #xmlStart = -1;
  #xmlEnd = -1;
  #fromStart = -1;
  #fromEnd = -1;
  /** Recipients' byte ranges, two numbers each, in the first `#toCount * 2` places; reused from fan-out to fan-out (emptying an array by its length would give up its storage each time). */
  readonly #to: number[] = [];
  #toCount = 0;

  constructor(data: Uint8Array) {
    // A Buffer over the same bytes (no copy): its toString reads a range without a subarray object per string.
    this.#bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  get recipientCount(): number {
    return this.#toCount;
  }

  recipient(i: number): string {
    if (!(i >= 0 && i < this.recipientCount)) throw new RangeError(`recipient ${i} of ${this.recipientCount}`);
    return this.#bytes.toString('utf8', this.#to[2 * i] as number, this.#to[2 * i + 1] as number);
  }

  stanzaXml(): string {
    return this.#xmlStart < 0 ? '' : this.#bytes.toString('utf8', this.#xmlStart, this.#xmlEnd);
  }

  fromBareJid(): string {
    return this.#fromStart < 0 ? '' : this.#bytes.toString('utf8', this.#fromStart, this.#fromEnd);
  }

  check(): void {
    const end = this.#bytes.length;
    this.#pos = 0;
    while (this.#pos < end) {
      const tag = this.#tag();
      if (tag === TAG_BATCH_FAN_OUTS) {
        const fanOutEnd = this.#lengthEnd(end);
        while (this.#pos < fanOutEnd) {
          const inner = this.#tag();
          if (inner === TAG_EPOCH) this.#uint64();
          else this.#skip(inner & 7, fanOutEnd);
        }
        this.#expectAt(fanOutEnd);
      } else {
        this.#skip(tag & 7, end);
      }
    }
  }

  visitAll(visit: (f: FanOutView) => void): void {
    const end = this.#bytes.length;
    this.#pos = 0;
    while (this.#pos < end) {
      const tag = this.#tag();
      if (tag !== TAG_BATCH_FAN_OUTS) {
        this.#skip(tag & 7, end);
        continue;
      }
      const fanOutEnd = this.#lengthEnd(end);
      this.#readFanOut(fanOutEnd);
      visit(this);
    }
  }

  #readFanOut(end: number): void {
    this.shard = 0;
    this.epoch = 0;
    this.#xmlStart = this.#xmlEnd = this.#fromStart = this.#fromEnd = -1;
    this.#toCount = 0;
    while (this.#pos < end) {
      const tag = this.#tag();
      switch (tag) {
        case TAG_STANZA_XML:
          this.#xmlEnd = this.#lengthEnd(end);
          this.#xmlStart = this.#pos;
          this.#pos = this.#xmlEnd;
          break;
        case TAG_FROM_BARE_JID:
          this.#fromEnd = this.#lengthEnd(end);
          this.#fromStart = this.#pos;
          this.#pos = this.#fromEnd;
          break;
        case TAG_SHARD:
          this.shard = this.#uint32();
          break;
        case TAG_EPOCH:
          this.epoch = this.#uint64();
          break;
        case TAG_TO_JIDS: {
          const toEnd = this.#lengthEnd(end);
          this.#to[2 * this.#toCount] = this.#pos;
          this.#to[2 * this.#toCount + 1] = toEnd;
          this.#toCount++;
          this.#pos = toEnd;
          break;
        }
        default:
          this.#skip(tag & 7, end);
      }
    }
  }

  #tag(): number {
    const at = this.#pos;
    const tag = this.#uint32();
    if (tag >>> 3 === 0) throw new FanOutScanError('field number 0', at);
    return tag;
  }

  /** A length prefix: where the field's bytes end, which must be within `limit`. */
  #lengthEnd(limit: number): number {
    const at = this.#pos;
    const length = this.#uint32();
    const fieldEnd = this.#pos + length;
    if (fieldEnd > limit) throw new FanOutScanError(`length ${length} runs past the end`, at);
    return fieldEnd;
  }

  #skip(wireType: number, limit: number): void {
    const at = this.#pos;
    switch (wireType) {
      case WIRE_VARINT:
        this.#varintBytes();
        break;
      case WIRE_FIXED64:
        this.#pos += 8;
        break;
      case WIRE_LEN:
        this.#pos = this.#lengthEnd(limit);
        break;
      case WIRE_FIXED32:
        this.#pos += 4;
        break;
      default:
        throw new FanOutScanError(`wire type ${wireType}`, at);
    }
    if (this.#pos > limit) throw new FanOutScanError('field runs past the end', at);
  }

  #expectAt(end: number): void {
    if (this.#pos !== end) throw new FanOutScanError('field runs past the end of its message', this.#pos);
  }

  /** A varint's low 32 bits, unsigned (protobuf's uint32 of a longer varint). */
  #uint32(): number {
    const b = this.#bytes;
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.#pos >= b.length) throw new FanOutScanError('truncated varint', this.#pos);
      const byte = b[this.#pos++] as number;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
    }
    throw new FanOutScanError('varint longer than ten bytes', this.#pos);
  }

  /** A uint64 varint as a number; above Number.MAX_SAFE_INTEGER is an error (as the generated decoder's). */
  #uint64(): number {
    const at = this.#pos;
    const b = this.#bytes;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= b.length) throw new FanOutScanError('truncated varint', this.#pos);
      const byte = b[this.#pos++] as number;
      // Each term is exact while the sum stays below 2^53; a larger sum is refused below.
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) {
        // Ten bytes hold 70 bits; a uint64 keeps the low 64, and only values below 2^53 are accepted anyway.
        if (value > Number.MAX_SAFE_INTEGER) throw new FanOutScanError('epoch larger than Number.MAX_SAFE_INTEGER', at);
        return value;
      }
    }
    throw new FanOutScanError('varint longer than ten bytes', this.#pos);
  }

  #varintBytes(): void {
    const b = this.#bytes;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= b.length) throw new FanOutScanError('truncated varint', this.#pos);
      if ((b[this.#pos++] as number) < 0x80) return;
    }
    throw new FanOutScanError('varint longer than ten bytes', this.#pos);
  }
}
