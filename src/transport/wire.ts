// Protobuf wire primitives for the hand-written raft message codec: varints
// over plain numbers (exact up to 2^53, which raft indexes never reach; the
// writers are src/wire's, shared with the client API's and the put command's
// codecs), length-delimited fields, and a reader that skips unknown fields so
// newer peers may add some.

import { asciiText } from "../wire/fields";

export { varintBytes, writeVarint } from "../wire/fields";

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const UTF8 = new TextEncoder();
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true });

export class WireError extends Error {
  override name = "WireError";
}

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Caches the UTF-8 bytes of node ids: a handful of distinct strings sent millions of times. */
const utf8Cache = new Map<string, Uint8Array>();
const UTF8_CACHE_MAX_ENTRIES = 1024;

export function utf8Bytes(text: string): Uint8Array {
  let bytes = utf8Cache.get(text);
  if (bytes === undefined) {
    bytes = UTF8.encode(text);
    if (utf8Cache.size >= UTF8_CACHE_MAX_ENTRIES) utf8Cache.clear();
    utf8Cache.set(text, bytes);
  }
  return bytes;
}

/** Reads one protobuf message body; positions are absolute within `buf`. */
export class WireReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** Narrows the reader to the embedded message that starts here; `leave(outerEnd)` widens it again. */
  enter(field: string): this {
    const [start, end] = this.lengthDelimited(field);
    this.pos = start;
    this.end = end;
    return this;
  }

  leave(outerEnd: number): void {
    this.pos = this.end;
    this.end = outerEnd;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a number; values above 2^53 - 1 are refused rather than rounded. */
  uint(field: string): number {
    const buf = this.buf;
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(`truncated varint in ${field}`);
      const byte = buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new WireError(`${field} exceeds 2^53-1`);
        return result;
      }
      multiplier *= 0x80;
    }
    throw new WireError(`varint longer than 10 bytes in ${field}`);
  }

  /** A length-delimited field's [start, end) within buf; the reader moves past it. */
  lengthDelimited(field: string): [number, number] {
    const length = this.uint(field);
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw new WireError(`${field} claims ${length} bytes, only ${this.end - start} left`);
    this.pos = end;
    return [start, end];
  }

  /** Bytes field as a view into the frame (no copy). */
  bytes(field: string): Uint8Array {
    const [start, end] = this.lengthDelimited(field);
    return this.buf.subarray(start, end);
  }

  string(field: string): string {
    const [start, end] = this.lengthDelimited(field);
    if (start === end) return "";
    // Node ids: short ASCII, built directly (cheaper than TextDecoder's call).
    const ascii = asciiText(this.buf, start, end);
    if (ascii !== undefined) return ascii;
    try {
      return UTF8_DECODER.decode(this.buf.subarray(start, end));
    } catch {
      throw new WireError(`${field} is not valid UTF-8`);
    }
  }

  skip(wireType: number, field: string): void {
    switch (wireType) {
      case WIRE_VARINT:
        while (true) {
          if (this.pos >= this.end) throw new WireError(`truncated varint in ${field}`);
          if (this.buf[this.pos++]! < 0x80) return;
        }
      case WIRE_FIXED64:
        this.advance(8, field);
        return;
      case WIRE_LEN:
        this.lengthDelimited(field);
        return;
      case WIRE_FIXED32:
        this.advance(4, field);
        return;
      default:
        // Groups (3, 4) are not used by proto3; 6 and 7 do not exist.
        throw new WireError(`unsupported wire type ${wireType} in ${field}`);
    }
  }

  private advance(bytes: number, field: string): void {
    if (this.pos + bytes > this.end) throw new WireError(`truncated ${field}`);
    this.pos += bytes;
  }
}
