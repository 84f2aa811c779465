/**
 * Counts the UTF-8 bytes of stream input written since a mark, so the
 * parser can bound a stanza (RFC 6120 §13.12) while it is still arriving.
 *
 * Positions are saxes' global positions: UTF-16 offsets into all input fed
 * so far. Input arrives in slices; only the current slice is kept, and the
 * bytes between the mark and the slice start are carried as a number.
 */
export class InputBudget {
  #markPos = 0;
  #sliceStart = 0;
  #slice = '';
  /** UTF-8 bytes between the mark and #sliceStart. */
  #bytesBeforeSlice = 0;

  /** The slice about to be parsed; positions reported meanwhile fall inside it. */
  beginSlice(slice: string): void {
    this.#slice = slice;
  }

  /** Close the current slice and return the bytes written since the mark. */
  endSlice(): number {
    const end = this.#sliceStart + this.#slice.length;
    const bytes = this.bytesUpTo(end);
    this.#bytesBeforeSlice = bytes;
    this.#sliceStart = end;
    this.#slice = '';
    return bytes;
  }

  /** Bytes from the mark up to `pos`, which lies in the current slice. */
  bytesUpTo(pos: number): number {
    const markInSlice = this.#markPos >= this.#sliceStart;
    const from = markInSlice ? this.#markPos - this.#sliceStart : 0;
    const to = Math.max(pos - this.#sliceStart, from);
    const inSlice = Buffer.byteLength(this.#slice.slice(from, to), 'utf8');
    return (markInSlice ? 0 : this.#bytesBeforeSlice) + inSlice;
  }

  /** Start counting afresh from `pos` (the end of a stanza or of the stream header). */
  markAt(pos: number): void {
    this.#markPos = pos;
  }
}
