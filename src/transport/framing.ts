// Frames on a peer connection: a 4-byte big-endian body length, then the
// body (a dkv.raft.v1.PeerFrame). FrameDecoder turns arbitrary read chunks
// into whole bodies: a body inside one chunk is handed out as a view of that
// chunk (no copy); a body spread over chunks is assembled once, in a buffer
// of exactly its size. A length over the limit is refused before anything is
// buffered for it.
import { FRAME_HEADER_BYTES } from "./limits";

export class FrameTooLargeError extends Error {
  override name = "FrameTooLargeError";
  constructor(
    readonly frameBytes: number,
    readonly maxFrameBytes: number,
  ) {
    super(`frame of ${frameBytes} bytes exceeds the limit of ${maxFrameBytes} bytes`);
  }
}

export function writeFrameHeader(buf: Uint8Array, bodyBytes: number): void {
  buf[0] = bodyBytes >>> 24;
  buf[1] = (bodyBytes >>> 16) & 0xff;
  buf[2] = (bodyBytes >>> 8) & 0xff;
  buf[3] = bodyBytes & 0xff;
}

function readFrameHeader(buf: Uint8Array, pos: number): number {
  return ((buf[pos]! << 24) >>> 0) + (buf[pos + 1]! << 16) + (buf[pos + 2]! << 8) + buf[pos + 3]!;
}

export class FrameDecoder {
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;

  /** The limit may be raised once the other side is known (see MAX_HELLO_FRAME_BYTES). */
  constructor(public maxFrameBytes: number) {}

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.headerFill + this.bodyFill;
  }

  /**
   * Consumes one read. Calls onFrame for every body completed, in order.
   * Throws FrameTooLargeError (after delivering the frames before it); the
   * connection is unusable afterwards and must be closed.
   */
  push(chunk: Uint8Array, onFrame: (body: Uint8Array) => void): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.body === null) {
        let length: number;
        if (this.headerFill === 0 && end - pos >= FRAME_HEADER_BYTES) {
          length = readFrameHeader(chunk, pos);
          pos += FRAME_HEADER_BYTES;
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, end - pos);
          this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
          this.headerFill += take;
          pos += take;
          if (this.headerFill < FRAME_HEADER_BYTES) return;
          this.headerFill = 0;
          length = readFrameHeader(this.header, 0);
        }
        if (length > this.maxFrameBytes) throw new FrameTooLargeError(length, this.maxFrameBytes);
        if (end - pos >= length) {
          onFrame(chunk.subarray(pos, pos + length));
          pos += length;
          continue;
        }
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
      const take = Math.min(this.body.length - this.bodyFill, end - pos);
      this.body.set(chunk.subarray(pos, pos + take), this.bodyFill);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === this.body.length) {
        const body = this.body;
        this.body = null;
        this.bodyFill = 0;
        onFrame(body);
      }
    }
  }
}
