const BLANK = /^[ \t\r\n]*$/;

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
    this.#blankBeforeSlice = this.blankAfterMark();
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

  /**
   * Continue counting in a new coordinate system (a parser rebuilt after an
   * idle release): positions restart at `pos`, and `carried` bytes (input
   * since the mark that the old parser had already seen) still count.
   */
  restart(pos: number, carried: number): void {
    this.#sliceStart = pos;
    this.#slice = '';
    this.#bytesBeforeSlice = carried;
    // A mark before the slice makes bytesUpTo add the carried bytes; at `pos` itself nothing is carried.
    this.#markPos = carried > 0 ? pos - 1 : pos;
    this.#blankBeforeSlice = carried > 0;
  }

  /** True when everything after the mark in the current slice is XML whitespace (and the mark lies in it). */
  blankAfterMark(): boolean {
    if (this.#markPos < this.#sliceStart) return this.#blankBeforeSlice && BLANK.test(this.#slice);
    return BLANK.test(this.#slice.slice(this.#markPos - this.#sliceStart));
  }

  /** Everything between the mark and the slice start is known to be whitespace. */
  #blankBeforeSlice = false;

  /** Start counting afresh from `pos` (the end of a stanza or of the stream header). */
  markAt(pos: number): void {
    this.#markPos = pos;
    this.#blankBeforeSlice = false;
  }
}
