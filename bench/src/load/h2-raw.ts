/**
 * A unary gRPC client that frames HTTP/2 (RFC 9113) itself over one
 * net.Socket, for the grpc scenario's load processes (client `raw`).
 *
 * Why: with node:http2 every call makes a ClientHttp2Stream and its
 * helpers, and those objects outlive the young-generation collections
 * that follow them, so the load process promoted 64 MB per 6 s and paused
 * for GC about 24 times a second; the latency it reported was partly its
 * own. Here a call is a slot in preallocated typed arrays, keyed by its
 * stream id; per call there is the caller's callback, one small Buffer for
 * the frames written in a turn, and the decoded response (checked, then
 * dropped).
 *
 * What it does, as a client of a gRPC server over cleartext HTTP/2 with
 * prior knowledge: the connection preface and SETTINGS (no push, a large
 * initial stream window, our frame size and header table left at the
 * defaults), a connection WINDOW_UPDATE to the same large window, and
 * WINDOW_UPDATEs when half of it is used; ACKs the server's SETTINGS and
 * PINGs; applies the server's MAX_CONCURRENT_STREAMS (calls wait), its
 * MAX_FRAME_SIZE and INITIAL_WINDOW_SIZE and its WINDOW_UPDATEs (request
 * DATA waits for window); odd stream ids in increasing order; header
 * blocks split into CONTINUATION frames both ways; RST_STREAM and GOAWAY
 * fail the calls they concern with their error code; any protocol
 * violation by the server is a connection error (GOAWAY sent, every call
 * failed). Requests are HPACK literals without Huffman coding and without
 * indexing (the authorization header never indexed); responses go through
 * a full HPACK decoder (hpack.ts).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { encodeInteger, encodeString, HpackDecoder, HpackError, type HeaderSink } from './hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

/** RFC 9113 §7. */
export const H2_ERROR_NAMES: readonly string[] = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];
const H2 = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, CANCEL: 8, COMPRESSION_ERROR: 9 } as const;
export const h2ErrorName = (code: number): string => `${H2_ERROR_NAMES[code] ?? 'UNKNOWN'} (${code})`;

const MAX_WINDOW = 2 ** 31 - 1;
/** Our receive window, per stream (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection. */
const RECV_WINDOW = 2 ** 30;
/** Our SETTINGS_MAX_FRAME_SIZE: the default, not sent. */
const OUR_MAX_FRAME = 16_384;
const DEFAULT_WINDOW = 65_535;
const MAX_STREAM_ID = 2 ** 31 - 1;
/** Slots for calls in flight, indexed by (stream id / 2) mod SLOTS; a call whose slot is still busy waits. */
const SLOTS = 1 << 14;
/** A response message larger than this fails the call (nothing here answers with more). */
const MAX_MESSAGE = 4 << 20;
const SWEEP_MS = 100;

export type RawGrpcOptions = {
  readonly host: string;
  readonly port: number;
  /** e.g. /vigil.presence.v1.PresenceService/GetPresence */
  readonly path: string;
  /** Extra request metadata (lower-case names), sent as literals; `authorization` is sent never-indexed. */
  readonly metadata: readonly (readonly [string, string])[];
  /** Sent as grpc-timeout; the client also cancels (RST_STREAM CANCEL) a call unanswered 1 s after it. */
  readonly deadlineMs: number;
  /**
   * Checks the call's response message (`buf[start, end)`, without the gRPC prefix) for request `i`:
   * null if it is the right answer, else why not. Called once per message; a call needs exactly one.
   */
  readonly check: (i: number, buf: Buffer, start: number, end: number) => string | null;
  /** Observers for tests (PING answered, SETTINGS applied, GOAWAY received). */
  readonly onPing?: () => void;
  readonly onSettings?: () => void;
};

export type RawCallDone = (err: Error | null) => void;

/** A failed call: `code` is the grpc-status, or undefined when the call failed below gRPC (HTTP/2, socket, answer). */
export class RawCallError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'RawCallError';
  }
}

/** The server broke HTTP/2 or HPACK: the whole connection is failed (RFC 9113 §5.4.1). */
class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export class RawGrpcClient implements HeaderSink {
  readonly #o: RawGrpcOptions;
  readonly #socket: net.Socket;
  readonly #decoder = new HpackDecoder();
  readonly #headerBlock: Buffer;
  /** Set once the connection can take no new calls (GOAWAY, connection error, socket closed); the reason. */
  #closedReason: string | undefined;
  /** The connection is gone (connection error, socket closed, closed by us): no frame is read any more. */
  #dead = false;
  #goawayLast = MAX_STREAM_ID;

  // Peer settings.
  #peerMaxConcurrent = Number.POSITIVE_INFINITY;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = 16_384;
  #gotPeerSettings = false;

  // Flow control: what we may send, and what the server has sent us since our last WINDOW_UPDATE.
  #sendWindow = DEFAULT_WINDOW;
  #recvUnacked = 0;
  #recvWindow = RECV_WINDOW;

  // Streams.
  #nextId = 1;
  /** The lowest stream id that may still be open (the deadline sweep starts there). */
  #lowId = 1;
  #active = 0;
  readonly #sId = new Int32Array(SLOTS);
  readonly #sCall = new Int32Array(SLOTS);
  readonly #sDone: (RawCallDone | undefined)[] = new Array<RawCallDone | undefined>(SLOTS).fill(undefined);
  readonly #sPayload: (Buffer | undefined)[] = new Array<Buffer | undefined>(SLOTS).fill(undefined);
  /** Bytes of the payload already sent (request DATA waits for flow-control window). */
  readonly #sSent = new Int32Array(SLOTS);
  readonly #sStart = new Float64Array(SLOTS);
  readonly #sSendWindow = new Float64Array(SLOTS);
  readonly #sRecvWindow = new Float64Array(SLOTS);
  /** 0 no headers yet, 1 response headers seen. */
  readonly #sHeaders = new Uint8Array(SLOTS);
  readonly #sHttpStatus = new Int32Array(SLOTS);
  readonly #sGrpcStatus = new Int32Array(SLOTS);
  readonly #sGrpcMessage: string[] = new Array<string>(SLOTS).fill('');
  readonly #sMessages = new Uint8Array(SLOTS);
  readonly #sBad: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);
  readonly #sPrefix = new Uint8Array(SLOTS * 5);
  readonly #sPrefixGot = new Uint8Array(SLOTS);
  readonly #sMsgLen = new Int32Array(SLOTS);
  readonly #sMsgGot = new Int32Array(SLOTS);
  readonly #sMsgBuf: (Buffer | undefined)[] = new Array<Buffer | undefined>(SLOTS).fill(undefined);
  /** Calls waiting for a stream (concurrency limit, busy slot), and streams waiting for send window. */
  #waitCall: number[] = [];
  #waitPayload: Buffer[] = [];
  #waitDone: RawCallDone[] = [];
  #waitHead = 0;
  #blocked: number[] = [];

  // Header block being decoded: its stream's slot (-1 for a stream no longer ours), and CONTINUATION state.
  #cur = -1;
  #contStream = 0;
  #contFlags = 0;
  #hb = Buffer.allocUnsafe(OUR_MAX_FRAME);
  #hbLen = 0;

  // Input carried over between socket reads, and output gathered in one turn.
  #in = Buffer.allocUnsafe(64 * 1024);
  #inLen = 0;
  #out = Buffer.allocUnsafe(64 * 1024);
  #outLen = 0;
  #flushQueued = false;
  readonly #flush = (): void => this.#flushNow();
  readonly #sweepTimer: NodeJS.Timeout;

  /** Counters for tests and reports. */
  readonly stats = { pingsAnswered: 0, settingsReceived: 0, goaways: 0, rstStreams: 0, windowUpdatesSent: 0, continuationsReceived: 0, dataBlocked: 0 };

  constructor(o: RawGrpcOptions) {
    this.#o = o;
    this.#headerBlock = requestHeaderBlock(o);
    this.#socket = net.connect({ host: o.host, port: o.port, noDelay: true });
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    let socketError: Error | undefined;
    this.#socket.on('error', (e) => {
      socketError = e;
    });
    this.#socket.on('close', () => this.#failAll(`connection closed${socketError ? `: ${socketError.message}` : ''}`));
    // Preface, SETTINGS (ENABLE_PUSH 0, INITIAL_WINDOW_SIZE), connection WINDOW_UPDATE; queued until the socket connects.
    this.#reserve(PREFACE.length);
    PREFACE.copy(this.#out, this.#outLen);
    this.#outLen += PREFACE.length;
    this.#frameHeader(12, FRAME.SETTINGS, 0, 0);
    this.#setting(SETTING.ENABLE_PUSH, 0);
    this.#setting(SETTING.INITIAL_WINDOW_SIZE, RECV_WINDOW);
    this.#windowUpdate(0, RECV_WINDOW - DEFAULT_WINDOW);
    this.#flushNow();
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweepTimer.unref();
  }

  /** Issues request `i` with `payload` (its 5-byte gRPC prefix included); `done` runs once. */
  call(i: number, payload: Buffer, done: RawCallDone): void {
    if (this.#closedReason !== undefined) return done(new RawCallError(this.#closedReason));
    if (this.#waitHead < this.#waitCall.length || !this.#canOpen()) {
      this.#waitCall.push(i);
      this.#waitPayload.push(payload);
      this.#waitDone.push(done);
      return;
    }
    this.#open(i, payload, done);
  }

  close(): void {
    clearInterval(this.#sweepTimer);
    if (this.#closedReason === undefined) {
      this.#goaway(H2.NO_ERROR, 'client closing');
      this.#closedReason = 'client closed';
    }
    this.#flushNow();
    this.#socket.end();
    this.#failAll('client closed');
  }

  get inFlight(): number {
    return this.#active;
  }

  // --- sending --------------------------------------------------------------

  /**
   * A stream opens only after the server's first SETTINGS (until then its limits are unknown, and a server with a
   * lower MAX_CONCURRENT_STREAMS refuses streams opened against the default), within its limit, on a free slot.
   */
  #canOpen(): boolean {
    if (!this.#gotPeerSettings || this.#active >= this.#peerMaxConcurrent) return false;
    return this.#sId[(this.#nextId >>> 1) & (SLOTS - 1)] === 0;
  }

  #open(i: number, payload: Buffer, done: RawCallDone): void {
    const id = this.#nextId;
    if (id > MAX_STREAM_ID) {
      this.#closedReason = 'stream ids exhausted on this connection';
      return done(new RawCallError(this.#closedReason));
    }
    this.#nextId += 2;
    const s = (id >>> 1) & (SLOTS - 1);
    this.#sId[s] = id;
    this.#sCall[s] = i;
    this.#sDone[s] = done;
    this.#sPayload[s] = payload;
    this.#sSent[s] = 0;
    this.#sStart[s] = performance.now();
    this.#sSendWindow[s] = this.#peerInitialWindow;
    this.#sRecvWindow[s] = RECV_WINDOW;
    this.#sHeaders[s] = 0;
    this.#sHttpStatus[s] = 0;
    this.#sGrpcStatus[s] = -1;
    this.#sGrpcMessage[s] = '';
    this.#sMessages[s] = 0;
    this.#sBad[s] = undefined;
    this.#sPrefixGot[s] = 0;
    this.#active += 1;
    // HEADERS (+ CONTINUATION when the block exceeds the server's frame size), then as much DATA as the windows allow.
    const block = this.#headerBlock;
    const first = Math.min(block.length, this.#peerMaxFrame);
    this.#frameHeader(first, FRAME.HEADERS, first === block.length ? FLAG.END_HEADERS : 0, id);
    this.#bytes(block, 0, first);
    let at = first;
    while (at < block.length) {
      const n = Math.min(block.length - at, this.#peerMaxFrame);
      this.#frameHeader(n, FRAME.CONTINUATION, at + n === block.length ? FLAG.END_HEADERS : 0, id);
      this.#bytes(block, at, at + n);
      at += n;
    }
    if (!this.#sendData(s)) {
      this.#blocked.push(id);
      this.stats.dataBlocked += 1;
    }
    this.#queueFlush();
  }

  /** Sends what the windows allow of slot s's payload; true when all of it (with END_STREAM) is out. */
  #sendData(s: number): boolean {
    const payload = this.#sPayload[s] as Buffer;
    const id = this.#sId[s] as number;
    for (;;) {
      const left = payload.length - (this.#sSent[s] as number);
      const n = Math.min(left, this.#peerMaxFrame, Math.max(0, this.#sendWindow), Math.max(0, this.#sSendWindow[s] as number));
      if (n === 0 && left > 0) return false;
      const at = this.#sSent[s] as number;
      this.#frameHeader(n, FRAME.DATA, n === left ? FLAG.END_STREAM : 0, id);
      this.#bytes(payload, at, at + n);
      this.#sSent[s] = at + n;
      this.#sendWindow -= n;
      this.#sSendWindow[s] = (this.#sSendWindow[s] as number) - n;
      if (n === left) {
        this.#sPayload[s] = undefined;
        return true;
      }
    }
  }

  #drainBlocked(): void {
    if (this.#blocked.length === 0) return;
    const still: number[] = [];
    for (const id of this.#blocked) {
      const s = (id >>> 1) & (SLOTS - 1);
      if (this.#sId[s] !== id || this.#sPayload[s] === undefined) continue; // ended meanwhile
      if (!this.#sendData(s)) still.push(id);
    }
    this.#blocked = still;
    this.#queueFlush();
  }

  #drainWaiting(): void {
    while (this.#waitHead < this.#waitCall.length && this.#closedReason === undefined && this.#canOpen()) {
      const k = this.#waitHead++;
      this.#open(this.#waitCall[k] as number, this.#waitPayload[k] as Buffer, this.#waitDone[k] as RawCallDone);
    }
    if (this.#waitHead === this.#waitCall.length && this.#waitHead > 0) {
      this.#waitCall = [];
      this.#waitPayload = [];
      this.#waitDone = [];
      this.#waitHead = 0;
    }
  }

  #reserve(n: number): void {
    if (this.#outLen + n <= this.#out.length) return;
    this.#flushNow();
    if (n > this.#out.length) this.#out = Buffer.allocUnsafe(n);
  }

  #frameHeader(len: number, type: number, flags: number, id: number): void {
    this.#reserve(9 + len);
    const b = this.#out;
    const o = this.#outLen;
    b[o] = len >>> 16;
    b[o + 1] = (len >>> 8) & 0xff;
    b[o + 2] = len & 0xff;
    b[o + 3] = type;
    b[o + 4] = flags;
    b.writeUInt32BE(id, o + 5);
    this.#outLen = o + 9;
  }

  #bytes(src: Buffer, from: number, to: number): void {
    src.copy(this.#out, this.#outLen, from, to);
    this.#outLen += to - from;
  }

  #setting(id: number, value: number): void {
    this.#out.writeUInt16BE(id, this.#outLen);
    this.#out.writeUInt32BE(value, this.#outLen + 2);
    this.#outLen += 6;
  }

  #windowUpdate(id: number, increment: number): void {
    this.#frameHeader(4, FRAME.WINDOW_UPDATE, 0, id);
    this.#out.writeUInt32BE(increment, this.#outLen);
    this.#outLen += 4;
    this.stats.windowUpdatesSent += 1;
    this.#queueFlush();
  }

  #rstStream(id: number, code: number): void {
    this.#frameHeader(4, FRAME.RST_STREAM, 0, id);
    this.#out.writeUInt32BE(code, this.#outLen);
    this.#outLen += 4;
    this.#queueFlush();
  }

  #goaway(code: number, debug: string): void {
    const d = Buffer.from(debug, 'latin1');
    this.#frameHeader(8 + d.length, FRAME.GOAWAY, 0, 0);
    this.#out.writeUInt32BE(0, this.#outLen); // we accept no streams from the server
    this.#out.writeUInt32BE(code, this.#outLen + 4);
    this.#outLen += 8;
    this.#bytes(d, 0, d.length);
    this.#queueFlush();
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flush);
  }

  /** Writes what was gathered as one Buffer (a copy: the gather buffer is reused at once). */
  #flushNow(): void {
    this.#flushQueued = false;
    if (this.#outLen === 0) return;
    const b = Buffer.allocUnsafe(this.#outLen);
    this.#out.copy(b, 0, 0, this.#outLen);
    this.#outLen = 0;
    if (!this.#socket.destroyed) this.#socket.write(b);
  }

  // --- receiving ------------------------------------------------------------

  #onData(chunk: Buffer): void {
    try {
      if (this.#inLen === 0) {
        const used = this.#frames(chunk, chunk.length);
        if (used < chunk.length) this.#carry(chunk, used, chunk.length);
      } else {
        this.#carry(chunk, 0, chunk.length);
        const used = this.#frames(this.#in, this.#inLen);
        this.#in.copyWithin(0, used, this.#inLen);
        this.#inLen -= used;
      }
    } catch (e) {
      if (e instanceof ConnectionError) return this.#connectionError(e.code, e.message);
      if (e instanceof HpackError) return this.#connectionError(H2.COMPRESSION_ERROR, `HPACK: ${e.message}`);
      throw e;
    }
  }

  #carry(src: Buffer, from: number, to: number): void {
    const need = this.#inLen + to - from;
    if (need > this.#in.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#in.length * 2));
      this.#in.copy(grown, 0, 0, this.#inLen);
      this.#in = grown;
    }
    src.copy(this.#in, this.#inLen, from, to);
    this.#inLen = need;
  }

  /** Handles every complete frame in buf[0, end); returns the offset of the first incomplete one. */
  #frames(buf: Buffer, end: number): number {
    let p = 0;
    while (end - p >= 9 && !this.#dead) {
      const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
      if (len > OUR_MAX_FRAME) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `frame of ${len} octets exceeds our SETTINGS_MAX_FRAME_SIZE ${OUR_MAX_FRAME}`);
      if (end - p < 9 + len) break;
      this.#frame(buf[p + 3]!, buf[p + 4]!, buf.readUInt32BE(p + 5) & 0x7fffffff, buf, p + 9, p + 9 + len);
      p += 9 + len;
    }
    return p;
  }

  #frame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const len = end - start;
    if (!this.#gotPeerSettings && type !== FRAME.SETTINGS) throw new ConnectionError(H2.PROTOCOL_ERROR, `server preface: expected SETTINGS, got frame type ${type}`);
    if (this.#contStream !== 0 && (type !== FRAME.CONTINUATION || id !== this.#contStream)) {
      throw new ConnectionError(H2.PROTOCOL_ERROR, `frame type ${type} on stream ${id} while a header block of stream ${this.#contStream} awaits CONTINUATION`);
    }
    switch (type) {
      case FRAME.DATA:
        return this.#data(flags, id, buf, start, end);
      case FRAME.HEADERS:
        return this.#headers(flags, id, buf, start, end);
      case FRAME.PRIORITY:
        if (id === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (len !== 5) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `PRIORITY of ${len} octets`);
        return;
      case FRAME.RST_STREAM:
        if (id === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (len !== 4) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `RST_STREAM of ${len} octets`);
        this.#idleCheck(id, 'RST_STREAM');
        this.stats.rstStreams += 1;
        return this.#endStream(this.#slotOf(id), `RST_STREAM ${h2ErrorName(buf.readUInt32BE(start))}`, false);
      case FRAME.SETTINGS:
        return this.#settings(flags, id, buf, start, end);
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(H2.PROTOCOL_ERROR, 'PUSH_PROMISE although we sent SETTINGS_ENABLE_PUSH 0');
      case FRAME.PING:
        if (id !== 0) throw new ConnectionError(H2.PROTOCOL_ERROR, `PING on stream ${id}`);
        if (len !== 8) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `PING of ${len} octets`);
        if ((flags & FLAG.ACK) === 0) {
          this.#frameHeader(8, FRAME.PING, FLAG.ACK, 0);
          this.#bytes(buf, start, end);
          this.#queueFlush();
          this.stats.pingsAnswered += 1;
          this.#o.onPing?.();
        }
        return;
      case FRAME.GOAWAY:
        return this.#onGoaway(id, buf, start, end);
      case FRAME.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, buf, start, end);
      case FRAME.CONTINUATION:
        return this.#continuation(flags, id, buf, start, end);
      default:
        return; // unknown frame types are ignored (§5.5)
    }
  }

  /** A frame on a stream we never opened (an idle one) is a connection error (§5.1). */
  #idleCheck(id: number, what: string): void {
    if ((id & 1) === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, `${what} on server-initiated stream ${id}`);
    if (id >= this.#nextId) throw new ConnectionError(H2.PROTOCOL_ERROR, `${what} on idle stream ${id}`);
  }

  /** The slot of open stream id, or -1 if it has ended (frames may still arrive for a stream we reset). */
  #slotOf(id: number): number {
    const s = (id >>> 1) & (SLOTS - 1);
    return this.#sId[s] === id ? s : -1;
  }

  #padded(flags: number, buf: Buffer, start: number, end: number, what: string): [number, number] {
    if ((flags & FLAG.PADDED) === 0) return [start, end];
    if (end - start < 1) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `padded ${what} without a pad length`);
    const pad = buf[start]!;
    if (pad > end - start - 1) throw new ConnectionError(H2.PROTOCOL_ERROR, `${what} padding ${pad} exceeds its payload`);
    return [start + 1, end - pad];
  }

  #data(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, 'DATA on stream 0');
    this.#idleCheck(id, 'DATA');
    const len = end - start;
    // Connection flow control counts the whole payload, padding included.
    if (len > this.#recvWindow) throw new ConnectionError(H2.FLOW_CONTROL_ERROR, `DATA of ${len} octets beyond the connection window ${this.#recvWindow}`);
    this.#recvWindow -= len;
    this.#recvUnacked += len;
    if (this.#recvUnacked >= RECV_WINDOW / 2) {
      this.#windowUpdate(0, this.#recvUnacked);
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    const s = this.#slotOf(id);
    const [p0, p1] = this.#padded(flags, buf, start, end, 'DATA');
    if (s < 0) return;
    if (this.#sHeaders[s] === 0) return this.#failStream(s, 'DATA before response headers', H2.PROTOCOL_ERROR);
    const w = (this.#sRecvWindow[s] as number) - len;
    if (w < 0) return this.#failStream(s, `DATA beyond the stream window`, H2.FLOW_CONTROL_ERROR);
    this.#sRecvWindow[s] = w;
    if ((flags & FLAG.END_STREAM) === 0 && w < RECV_WINDOW / 2) {
      this.#windowUpdate(id, RECV_WINDOW - w);
      this.#sRecvWindow[s] = RECV_WINDOW;
    }
    this.#messageBytes(s, buf, p0, p1);
    if ((flags & FLAG.END_STREAM) !== 0) this.#endStream(s, 'stream ended without grpc-status', true);
  }

  /** Feeds response body octets to slot s's gRPC message framing; each whole message goes to `check`. */
  #messageBytes(s: number, buf: Buffer, p: number, end: number): void {
    while (p < end) {
      const got = this.#sPrefixGot[s] as number;
      if (got < 5) {
        this.#sPrefix[s * 5 + got] = buf[p++]!;
        this.#sPrefixGot[s] = got + 1;
        if (got + 1 < 5) continue;
        const pr = s * 5;
        const len = ((this.#sPrefix[pr + 1]! << 24) >>> 0) + (this.#sPrefix[pr + 2]! << 16) + (this.#sPrefix[pr + 3]! << 8) + this.#sPrefix[pr + 4]!;
        if (this.#sPrefix[pr] !== 0) this.#sBad[s] ??= `compressed response message (flag ${this.#sPrefix[pr]}) although none was asked for`;
        if (len > MAX_MESSAGE) this.#sBad[s] ??= `response message of ${len} octets`;
        this.#sMsgLen[s] = len;
        this.#sMsgGot[s] = 0;
        if (len === 0) this.#message(s, buf, p, p);
        continue;
      }
      const len = this.#sMsgLen[s] as number;
      const have = this.#sMsgGot[s] as number;
      const n = Math.min(end - p, len - have);
      if (have === 0 && n === len) {
        this.#message(s, buf, p, p + n); // the common case: the whole message in one DATA frame, checked in place
      } else {
        let m = this.#sMsgBuf[s];
        if (m === undefined) this.#sMsgBuf[s] = m = Buffer.allocUnsafe(Math.min(len, MAX_MESSAGE));
        if (len <= MAX_MESSAGE) buf.copy(m, have, p, p + n);
        this.#sMsgGot[s] = have + n;
        if (have + n === len) this.#message(s, m, 0, len);
      }
      p += n;
    }
  }

  #message(s: number, buf: Buffer, start: number, end: number): void {
    this.#sPrefixGot[s] = 0;
    this.#sMsgBuf[s] = undefined;
    const n = (this.#sMessages[s] as number) + 1;
    this.#sMessages[s] = Math.min(n, 255);
    if (n > 1) {
      this.#sBad[s] ??= 'more than one response message for a unary call';
      return;
    }
    if (this.#sBad[s] !== undefined) return;
    let why: string | null;
    try {
      why = this.#o.check(this.#sCall[s] as number, buf, start, end);
    } catch (e) {
      why = `undecodable response message: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (why !== null) this.#sBad[s] = why;
  }

  #headers(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, 'HEADERS on stream 0');
    this.#idleCheck(id, 'HEADERS');
    const [start0, p1] = this.#padded(flags, buf, start, end, 'HEADERS');
    let p0 = start0;
    if ((flags & FLAG.PRIORITY) !== 0) {
      if (p1 - p0 < 5) throw new ConnectionError(H2.FRAME_SIZE_ERROR, 'HEADERS with PRIORITY shorter than 5 octets');
      p0 += 5;
    }
    if ((flags & FLAG.END_HEADERS) !== 0) return this.#headerBlockDone(id, flags, buf, p0, p1);
    this.#contStream = id;
    this.#contFlags = flags;
    this.#hbLen = 0;
    this.#appendBlock(buf, p0, p1);
  }

  #continuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.#contStream === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, `CONTINUATION on stream ${id} without a HEADERS before it`);
    this.stats.continuationsReceived += 1;
    this.#appendBlock(buf, start, end);
    if ((flags & FLAG.END_HEADERS) === 0) return;
    this.#contStream = 0;
    this.#headerBlockDone(id, this.#contFlags, this.#hb, 0, this.#hbLen);
  }

  #appendBlock(buf: Buffer, start: number, end: number): void {
    const need = this.#hbLen + end - start;
    if (need > 1 << 20) throw new ConnectionError(H2.PROTOCOL_ERROR, `header block over ${1 << 20} octets`);
    if (need > this.#hb.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#hb.length * 2));
      this.#hb.copy(grown, 0, 0, this.#hbLen);
      this.#hb = grown;
    }
    buf.copy(this.#hb, this.#hbLen, start, end);
    this.#hbLen = need;
  }

  /** A complete header block: decoded even for a stream no longer ours, to keep the HPACK table in step. */
  #headerBlockDone(id: number, flags: number, buf: Buffer, start: number, end: number): void {
    const s = this.#slotOf(id);
    this.#cur = s;
    this.#decoder.decode(buf, start, end, this);
    this.#cur = -1;
    if (s < 0) return;
    const endStream = (flags & FLAG.END_STREAM) !== 0;
    if (this.#sHeaders[s] === 0) {
      this.#sHeaders[s] = 1;
      const status = this.#sHttpStatus[s] as number;
      if (status === 0) return this.#failStream(s, 'response headers without :status', H2.PROTOCOL_ERROR);
      if (status !== 200) {
        if (endStream) return this.#endStream(s, `HTTP status ${status}`, true);
        return this.#failStream(s, `HTTP status ${status}`, H2.CANCEL);
      }
    } else if (!endStream) {
      return this.#failStream(s, 'a second header block without END_STREAM', H2.PROTOCOL_ERROR);
    }
    if ((this.#sGrpcStatus[s] as number) >= 0) this.#endStream(s, '', endStream);
    else if (endStream) this.#endStream(s, 'stream ended without grpc-status', true);
  }

  /** HeaderSink: the fields of the block being decoded. */
  header(name: string, value: string): void {
    const s = this.#cur;
    if (s < 0) return;
    switch (name) {
      case ':status':
        this.#sHttpStatus[s] = value === '200' ? 200 : /^\d{3}$/.test(value) ? Number(value) : -1;
        return;
      case 'grpc-status':
        this.#sGrpcStatus[s] = value === '0' ? 0 : /^\d{1,9}$/.test(value) ? Number(value) : 2; // unparseable → UNKNOWN
        return;
      case 'grpc-message':
        this.#sGrpcMessage[s] = value;
        return;
      default:
        return;
    }
  }

  #settings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(H2.PROTOCOL_ERROR, `SETTINGS on stream ${id}`);
    const len = end - start;
    if ((flags & FLAG.ACK) !== 0) {
      if (len !== 0) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `SETTINGS ACK of ${len} octets`);
      return;
    }
    if (len % 6 !== 0) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `SETTINGS of ${len} octets (not a multiple of 6)`);
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      switch (key) {
        case SETTING.ENABLE_PUSH:
          if (v > 1) throw new ConnectionError(H2.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${v}`);
          break;
        case SETTING.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = v;
          break;
        case SETTING.INITIAL_WINDOW_SIZE: {
          if (v > MAX_WINDOW) throw new ConnectionError(H2.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${v}`);
          const delta = v - this.#peerInitialWindow;
          this.#peerInitialWindow = v;
          for (let s = 0; s < SLOTS; s++) if (this.#sId[s] !== 0) this.#sSendWindow[s] = (this.#sSendWindow[s] as number) + delta;
          break;
        }
        case SETTING.MAX_FRAME_SIZE:
          if (v < 16_384 || v > 16_777_215) throw new ConnectionError(H2.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${v}`);
          this.#peerMaxFrame = v;
          break;
        default:
          break; // HEADER_TABLE_SIZE: we never index; MAX_HEADER_LIST_SIZE: ours is a few hundred octets; unknown: ignored
      }
    }
    this.#gotPeerSettings = true;
    this.#frameHeader(0, FRAME.SETTINGS, FLAG.ACK, 0);
    this.#queueFlush();
    this.stats.settingsReceived += 1;
    this.#o.onSettings?.();
    this.#drainBlocked();
    this.#drainWaiting();
  }

  #onGoaway(id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(H2.PROTOCOL_ERROR, `GOAWAY on stream ${id}`);
    if (end - start < 8) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `GOAWAY of ${end - start} octets`);
    const last = buf.readUInt32BE(start) & 0x7fffffff;
    const code = buf.readUInt32BE(start + 4);
    const debug = buf.toString('latin1', start + 8, Math.min(end, start + 8 + 200));
    this.stats.goaways += 1;
    const reason = `GOAWAY ${h2ErrorName(code)}${debug ? ` "${debug}"` : ''}`;
    this.#closedReason ??= `connection closing: ${reason}`;
    this.#goawayLast = Math.min(this.#goawayLast, last);
    // Streams above last-stream-id were not processed; the rest may still complete.
    for (let s = 0; s < SLOTS; s++) {
      const sid = this.#sId[s] as number;
      if (sid > this.#goawayLast) this.#endStream(s, `${reason}, stream ${sid} not processed`, false);
    }
    this.#failWaiting(`connection closing: ${reason}`);
  }

  #onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(H2.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${end - start} octets`);
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(H2.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      if (this.#sendWindow + inc > MAX_WINDOW) throw new ConnectionError(H2.FLOW_CONTROL_ERROR, 'connection send window over 2^31-1');
      this.#sendWindow += inc;
    } else {
      this.#idleCheck(id, 'WINDOW_UPDATE');
      const s = this.#slotOf(id);
      if (s < 0) return;
      if (inc === 0) return this.#failStream(s, 'WINDOW_UPDATE of 0', H2.PROTOCOL_ERROR);
      const w = (this.#sSendWindow[s] as number) + inc;
      if (w > MAX_WINDOW) return this.#failStream(s, 'stream send window over 2^31-1', H2.FLOW_CONTROL_ERROR);
      this.#sSendWindow[s] = w;
    }
    this.#drainBlocked();
  }

  // --- ending calls -----------------------------------------------------------

  /** A stream error of the server's: reset the stream and fail the call. */
  #failStream(s: number, why: string, code: number): void {
    this.#rstStream(this.#sId[s] as number, code);
    this.#endStream(s, `${why} (sent RST_STREAM ${h2ErrorName(code)})`, false);
  }

  /**
   * Ends slot s's call: `why` is '' when the grpc-status arrived (the outcome is then read from it), else why the
   * call failed. `closed` says the server ended the stream (END_STREAM); if not, and the call ended without an error
   * of ours, the stream is reset so the server stops.
   */
  #endStream(s: number, why: string, closed: boolean): void {
    if (s < 0) return;
    const id = this.#sId[s] as number;
    const done = this.#sDone[s];
    this.#sId[s] = 0;
    this.#sDone[s] = undefined;
    this.#sPayload[s] = undefined;
    this.#sMsgBuf[s] = undefined;
    this.#active -= 1;
    if (!closed && why === '' && !this.#dead) this.#rstStream(id, H2.NO_ERROR);
    if (done !== undefined) {
      let err: RawCallError | null = null;
      if (why !== '') err = new RawCallError(why);
      else {
        const status = this.#sGrpcStatus[s] as number;
        if (status !== 0) err = new RawCallError(`grpc-status ${status}: ${percentDecoded(this.#sGrpcMessage[s] as string)}`, status);
        else if (this.#sMessages[s] === 0) err = new RawCallError('grpc-status 0 without a response message');
        else if (this.#sBad[s] !== undefined) err = new RawCallError(`wrong answer: ${this.#sBad[s]}`);
      }
      this.#sGrpcMessage[s] = '';
      this.#sBad[s] = undefined;
      done(err);
    }
    this.#drainWaiting();
  }

  /** Calls that passed their deadline by a second without an answer are cancelled; the server was told grpc-timeout. */
  #sweep(): void {
    const now = performance.now();
    const limit = this.#o.deadlineMs + 1000;
    let id = this.#lowId;
    for (; id < this.#nextId; id += 2) {
      const s = (id >>> 1) & (SLOTS - 1);
      if (this.#sId[s] !== id) continue;
      if (now - (this.#sStart[s] as number) < limit) break;
      this.#rstStream(id, H2.CANCEL);
      this.#endStream(s, `no answer within ${limit} ms (sent RST_STREAM CANCEL)`, false);
    }
    this.#lowId = id;
  }

  #connectionError(code: number, message: string): void {
    if (!this.#dead) this.#goaway(code, message.slice(0, 200));
    this.#flushNow();
    this.#dead = true;
    this.#closedReason = `HTTP/2 connection error ${h2ErrorName(code)}: ${message}`;
    this.#failAll(this.#closedReason);
    this.#socket.end();
    this.#socket.destroySoon();
  }

  #failAll(reason: string): void {
    this.#closedReason ??= reason;
    this.#dead = true;
    clearInterval(this.#sweepTimer);
    for (let s = 0; s < SLOTS; s++) if (this.#sId[s] !== 0) this.#endStream(s, reason, true);
    this.#failWaiting(reason);
  }

  #failWaiting(reason: string): void {
    while (this.#waitHead < this.#waitCall.length) {
      const k = this.#waitHead++;
      (this.#waitDone[k] as RawCallDone)(new RawCallError(reason));
    }
    this.#waitCall = [];
    this.#waitPayload = [];
    this.#waitDone = [];
    this.#waitHead = 0;
  }
}

/** The request header block, the same for every call: literals without indexing, no Huffman coding (RFC 7541 §6.2.2). */
function requestHeaderBlock(o: RawGrpcOptions): Buffer {
  const fields: [string, string][] = [
    [':method', 'POST'], [':scheme', 'http'], [':path', o.path], [':authority', `${o.host}:${o.port}`],
    ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', `${o.deadlineMs}m`],
    ...o.metadata.map(([k, v]) => [k, v] as [string, string]),
  ];
  const out = Buffer.alloc(fields.reduce((n, [k, v]) => n + k.length + v.length + 16, 0));
  let at = 0;
  for (const [name, value] of fields) {
    if (name !== name.toLowerCase()) throw new RangeError(`metadata name must be lower-case, got ${JSON.stringify(name)}`);
    if (name === ':method' && value === 'POST') {
      out[at++] = 0x83; // indexed, static 3
    } else if (name === ':scheme' && value === 'http') {
      out[at++] = 0x86; // indexed, static 6
    } else {
      const staticName = STATIC_NAME_INDEX[name];
      // 0001xxxx never indexed for credentials, 0000xxxx without indexing otherwise; name from the static table if there.
      const flags = name === 'authorization' ? 0x10 : 0x00;
      if (staticName !== undefined) at = encodeInteger(staticName, 4, flags, out, at);
      else {
        out[at++] = flags;
        at = encodeString(name, out, at);
      }
      at = encodeString(value, out, at);
    }
  }
  return out.subarray(0, at);
}

const STATIC_NAME_INDEX: Record<string, number> = { ':authority': 1, ':path': 4, 'content-type': 31, authorization: 23, 'user-agent': 58 };

/** grpc-message is percent-encoded; a malformed one is shown as it came. */
function percentDecoded(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}
